/** One Dockerfile instruction, continuation lines joined. */
export interface DockerInstruction {
  /** Upper-case keyword: `RUN`, `COPY`, ... */
  readonly keyword: string;
  readonly args: string;
  /** 1-based line where it starts. */
  readonly line: number;
}

/** A build stage: its `FROM` (global ARGs substituted) and the instructions after it. */
export interface DockerStage {
  readonly name: string | undefined;
  readonly from: string;
  readonly instructions: readonly DockerInstruction[];
}

/** A parsed Dockerfile. */
export interface Dockerfile {
  /** ARGs declared before the first FROM, with their defaults. */
  readonly globalArgs: Readonly<Record<string, string>>;
  readonly stages: readonly DockerStage[];
}

/**
 * Parses a Dockerfile into stages, as BuildKit reads it: `\` continues a line, comment lines
 * (also inside a continuation) are dropped, `${ARG}` / `$ARG` in FROM take the global ARGs'
 * defaults. Enough for policy checks; it does not evaluate heredocs.
 */
export function parseDockerfile(text: string): Dockerfile {
  const instructions: DockerInstruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed.startsWith('#') || (trimmed === '' && !pending)) return;
    const continued = trimmed.endsWith('\\');
    const part = continued ? trimmed.slice(0, -1).trim() : trimmed;
    pending = pending
      ? { text: `${pending.text} ${part}`, line: pending.line }
      : { text: part, line: index + 1 };
    if (continued) return;
    const [keyword = '', ...rest] = pending.text.split(/\s+/);
    instructions.push({ keyword: keyword.toUpperCase(), args: rest.join(' '), line: pending.line });
    pending = undefined;
  });

  const globalArgs: Record<string, string> = {};
  const stages: { name: string | undefined; from: string; instructions: DockerInstruction[] }[] = [];
  for (const instruction of instructions) {
    const current = stages.at(-1);
    if (instruction.keyword === 'FROM') {
      const [image = '', as, name] = instruction.args.split(/\s+/);
      const from = image.replace(
        /\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g,
        (_m, arg: string) => globalArgs[arg] ?? '',
      );
      stages.push({ name: as?.toUpperCase() === 'AS' ? name : undefined, from, instructions: [] });
    } else if (current) {
      current.instructions.push(instruction);
    } else if (instruction.keyword === 'ARG') {
      const [name = '', value = ''] = instruction.args.split('=');
      globalArgs[name] = value;
    }
  }
  return { globalArgs, stages };
}

/** The stage named `name` and the stages it is built on, nearest first. */
export function stageChain(dockerfile: Dockerfile, name: string): DockerStage[] {
  const chain: DockerStage[] = [];
  let stage = dockerfile.stages.find((s) => s.name === name);
  while (stage) {
    chain.push(stage);
    const base = stage.from;
    stage = dockerfile.stages.find((s) => s.name === base);
  }
  return chain;
}

/** The last value of an instruction in a stage or the stages it is built on (`USER`, `CMD`, ...). */
export function effective(
  dockerfile: Dockerfile,
  stage: string,
  keyword: string,
): DockerInstruction | undefined {
  for (const s of stageChain(dockerfile, stage)) {
    const found = s.instructions.filter((i) => i.keyword === keyword).at(-1);
    if (found) return found;
  }
  return undefined;
}

/**
 * The argv of an exec-form (JSON array) ENTRYPOINT or CMD, or undefined for the shell form,
 * which runs under `/bin/sh -c` and so keeps SIGTERM from reaching the process.
 */
export function execForm(instruction: DockerInstruction | undefined): string[] | undefined {
  if (!instruction) return undefined;
  try {
    const parsed: unknown = JSON.parse(instruction.args);
    return Array.isArray(parsed) && parsed.every((p) => typeof p === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}
