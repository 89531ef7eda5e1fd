// The policy `portcullis serve` enforces when given none: deny by default, so a first run shows
// an unsigned image being refused, with the Kubernetes project's own registry as the one
// example of an open scope. A demonstration, not a production policy: pass --policy.
export const DEFAULT_POLICY_JSON = `{
  "default": [{ "type": "reject" }],
  "transports": {
    "docker": {
      "registry.k8s.io": [{ "type": "insecureAcceptAnything" }]
    }
  }
}
`;
