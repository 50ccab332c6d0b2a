import type { INetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import type { INetworkPolicyPeer } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPeer';
import type { INetworkPolicyPort } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicyPort';

type ILabelSelector = NonNullable<INetworkPolicy['spec']>['podSelector'];

/*
 * NetworkPolicy semantics (https://kubernetes.io/docs/concepts/services-networking/network-policies/),
 * enough to ask "may A open a connection to B on port P?" of a set of policies: a pod that no
 * policy of a direction selects is open in that direction; one that some policy selects accepts
 * only what one of their rules allows; a connection needs the sender's egress and the receiver's
 * ingress. Policies govern only pods of their own namespace.
 */

/** A pod (or an address outside the cluster) as the policies see it. */
export interface Endpoint {
  /** For messages. */
  readonly name: string;
  /** The pod's namespace; undefined for an address outside the cluster. */
  readonly namespace?: string;
  /** The namespace's labels (Kubernetes adds `kubernetes.io/metadata.name`). */
  readonly namespaceLabels?: Readonly<Record<string, string>>;
  readonly labels?: Readonly<Record<string, string>>;
  /** For addresses outside the cluster: an IPv4 address, matched against ipBlocks. */
  readonly ip?: string;
}

/** Whether a label selector selects `labels` (an empty selector selects everything). */
export function selectorMatches(
  selector: ILabelSelector | undefined,
  labels: Readonly<Record<string, string>>,
): boolean {
  if (!selector) return true;
  for (const [key, value] of Object.entries(selector.matchLabels ?? {}))
    if (labels[key] !== value) return false;
  for (const expression of selector.matchExpressions ?? []) {
    const value = labels[expression.key];
    const values = expression.values ?? [];
    const ok =
      expression.operator === 'In'
        ? value !== undefined && values.includes(value)
        : expression.operator === 'NotIn'
          ? value === undefined || !values.includes(value)
          : expression.operator === 'Exists'
            ? value !== undefined
            : value === undefined;
    if (!ok) return false;
  }
  return true;
}

function ipv4(address: string): number {
  return address.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function inCidr(address: string, cidr: string): boolean {
  const [base = '', bits = '32'] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4(address) / size) === Math.floor(ipv4(base) / size);
}

function peerMatches(peer: INetworkPolicyPeer, policyNamespace: string, other: Endpoint): boolean {
  if (peer.ipBlock) {
    if (other.ip === undefined) return false;
    return (
      inCidr(other.ip, peer.ipBlock.cidr) &&
      !(peer.ipBlock.except ?? []).some((c) => inCidr(other.ip ?? '', c))
    );
  }
  if (other.namespace === undefined) return false;
  const namespaceOk = peer.namespaceSelector
    ? selectorMatches(peer.namespaceSelector, other.namespaceLabels ?? {})
    : other.namespace === policyNamespace;
  return namespaceOk && selectorMatches(peer.podSelector, other.labels ?? {});
}

function portMatches(
  ports: readonly INetworkPolicyPort[] | undefined,
  port: number,
  protocol: string,
): boolean {
  if (!ports || ports.length === 0) return true;
  return ports.some((p) => {
    if (typeof p.port === 'string')
      throw new Error(`named port ${p.port}: use numbers, which these checks compare`);
    const lowest = p.port;
    return (
      (p.protocol ?? 'TCP') === protocol &&
      (lowest === undefined || (port >= lowest && port <= (p.endPort ?? lowest)))
    );
  });
}

function governing(
  policies: readonly INetworkPolicy[],
  pod: Endpoint,
  direction: 'Ingress' | 'Egress',
): INetworkPolicy[] {
  if (pod.namespace === undefined) return [];
  return policies.filter((policy) => {
    if ((policy.metadata?.namespace ?? pod.namespace) !== pod.namespace) return false;
    // Without policyTypes, a policy is an ingress policy, and an egress one too if it has egress rules.
    const types = policy.spec?.policyTypes ?? ['Ingress', ...(policy.spec?.egress ? ['Egress'] : [])];
    return types.includes(direction) && selectorMatches(policy.spec?.podSelector, pod.labels ?? {});
  });
}

/** Whether `from` may open a connection to `to` on `port` under `policies`. */
export function connectionAllowed(
  policies: readonly INetworkPolicy[],
  from: Endpoint,
  to: Endpoint,
  port: number,
  protocol = 'TCP',
): boolean {
  const egress = governing(policies, from, 'Egress');
  const egressOk =
    egress.length === 0 ||
    egress.some((policy) =>
      (policy.spec?.egress ?? []).some(
        (rule) =>
          (rule.to === undefined ||
            rule.to.length === 0 ||
            rule.to.some((peer) => peerMatches(peer, from.namespace ?? '', to))) &&
          portMatches(rule.ports, port, protocol),
      ),
    );
  const ingress = governing(policies, to, 'Ingress');
  const ingressOk =
    ingress.length === 0 ||
    ingress.some((policy) =>
      (policy.spec?.ingress ?? []).some(
        (rule) =>
          (rule.from === undefined ||
            rule.from.length === 0 ||
            rule.from.some((peer) => peerMatches(peer, to.namespace ?? '', from))) &&
          portMatches(rule.ports, port, protocol),
      ),
    );
  return egressOk && ingressOk;
}
