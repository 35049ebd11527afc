/**
 * What a `k8s:` target names: `service[.namespace[.svc[.<cluster domain>]]][:port]`, the forms
 * kuberesolver (Go) accepts, so one target works from both. The port is a number (the port the
 * pods listen on: EndpointSlices carry the Service's targetPort) or the name of the Service's
 * port, looked up in each slice — slices of one Service may carry different numbers for it.
 */
import { ERROR_CODES, GrpcHaError } from '../../core/errors.js';

/** A parsed `k8s:` name. */
export interface KubernetesName {
  /** The Service's name. */
  readonly service: string;
  /** Its namespace; when absent, the source's default (the pod's own, or the kubeconfig context's). */
  readonly namespace?: string;
  /** A port number, a port name, or nothing (each slice's only port). */
  readonly port?: number | string;
}

/** A Service name: "a DNS-1035 label" (lowercase letters, digits and '-', starting with a letter, at most 63). */
const DNS_1035 = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A namespace: a DNS-1123 label. */
const DNS_1123 = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** A port name: an IANA_SVC_NAME (at most 15 lowercase letters, digits and '-', with a letter, no '--'). */
const PORT_NAME = /^(?=.*[a-z])(?!.*--)[a-z0-9]([-a-z0-9]{0,13}[a-z0-9])?$/;

/** Parses the path of a `k8s:` target; throws GrpcHaError(INVALID_ADDRESS) saying what is wrong. */
export function parseKubernetesName(text: string): KubernetesName {
  const fail = (rule: string): never => {
    throw new GrpcHaError(ERROR_CODES.INVALID_ADDRESS, `k8s name ${JSON.stringify(text)}: ${rule}`);
  };
  const colon = text.lastIndexOf(':');
  const host = colon < 0 ? text : text.slice(0, colon);
  const portText = colon < 0 ? undefined : text.slice(colon + 1);
  const [service, namespace, svc, ...domain] = host.split('.');
  if (!service || !DNS_1035.test(service)) fail('the service must be a DNS-1035 label (lowercase letters, digits and "-", starting with a letter), as in k8s:///echo.prod:grpc');
  if (namespace !== undefined && !DNS_1123.test(namespace)) fail('the namespace must be a DNS-1123 label (lowercase letters, digits and "-")');
  if (svc !== undefined && svc !== 'svc') fail('write service.namespace, or service.namespace.svc[.cluster.local]');
  if (domain.some((label) => !DNS_1123.test(label))) fail('the cluster domain must be DNS labels');
  let port: number | string | undefined;
  if (portText !== undefined) {
    if (/^\d+$/.test(portText)) {
      port = Number(portText);
      if (port < 1 || port > 65535) fail('the port number must be in 1..65535');
    } else if (PORT_NAME.test(portText)) {
      port = portText;
    } else {
      fail('the port must be a number in 1..65535 or a port name (at most 15 lowercase letters, digits and "-")');
    }
  }
  return { service: service!, ...(namespace !== undefined && { namespace }), ...(port !== undefined && { port }) };
}

/** The :authority calls carry by default: `service.namespace` as written (`service` without one), as kuberesolver's. */
export function kubernetesDefaultAuthority(name: KubernetesName): string {
  return name.namespace === undefined ? name.service : `${name.service}.${name.namespace}`;
}
