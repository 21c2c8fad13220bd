// Validates packaging/kubernetes: every manifest against the Kubernetes API schemas that the npm
// package kubernetes-models ships (types, required fields, enums, formats: an int32 port, a
// quantity), the Helm values' containers and volumes as core/v1 Container and Volume, and what
// lifeboat needs of them (probes on /healthz and /readyz at the status port, a status_listen the
// kubelet can reach). kubernetes-models does NOT reject unknown (misspelled) fields, and nothing
// here checks the Helm chart itself (no helm binary in Debian). Exit 1 with one line per problem.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import * as core from "kubernetes-models/v1";
import * as apps from "kubernetes-models/apps/v1";
import * as networking from "kubernetes-models/networking.k8s.io/v1";

const dir = process.argv[2];
const models = {
  "v1/ServiceAccount": core.ServiceAccount,
  "v1/ConfigMap": core.ConfigMap,
  "apps/v1/Deployment": apps.Deployment,
  "networking.k8s.io/v1/NetworkPolicy": networking.NetworkPolicy,
};
const problems = [];
let checked = 0;

function validate(Model, data, where) {
  try {
    new Model(data).validate();
    checked++;
  } catch (e) {
    problems.push(`${where}: ${e.message.split("\n")[0]}`);
  }
}

function checkLifeboat(container, where) {
  const env = Object.fromEntries((container.env || []).map((e) => [e.name, e.value]));
  const port = (container.ports || []).find((p) => p.containerPort === 8470);
  if (!port) problems.push(`${where}: no containerPort 8470 (status_listen)`);
  if (!String(env.KONG_STATUS_LISTEN || "").startsWith("0.0.0.0:8470"))
    problems.push(`${where}: KONG_STATUS_LISTEN must be 0.0.0.0:8470 for the kubelet's probes`);
  if (container.livenessProbe?.httpGet?.path !== "/healthz") problems.push(`${where}: liveness probe is not /healthz`);
  if (container.readinessProbe?.httpGet?.path !== "/readyz") problems.push(`${where}: readiness probe is not /readyz`);
  const mounts = (container.volumeMounts || []).map((m) => m.mountPath);
  if (!mounts.includes(env.KONG_PREFIX)) problems.push(`${where}: KONG_PREFIX ${env.KONG_PREFIX} is not a mounted volume`);
  for (const key of ["KONG_DECLARATIVE_CONFIG", "KONG_CLUSTER_CERT"]) {
    if (env[key] && !mounts.some((m) => env[key].startsWith(m + "/")))
      problems.push(`${where}: ${key} ${env[key]} is not under a mounted volume`);
  }
}

for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
  const docs = parseAllDocuments(readFileSync(join(dir, file), "utf8"), { strict: true, uniqueKeys: true });
  docs.forEach((doc, i) => {
    const where = `${file}#${i + 1}`;
    if (doc.errors.length) return problems.push(`${where}: ${doc.errors[0].message}`);
    const data = doc.toJSON();
    if (file.startsWith("helm-values")) {
      for (const c of data.deployment.sidecarContainers) {
        validate(core.Container, c, `${where} sidecarContainers ${c.name}`);
        checkLifeboat(c, `${where} sidecarContainers ${c.name}`);
      }
      for (const v of data.deployment.userDefinedVolumes) validate(core.Volume, v, `${where} volume ${v.name}`);
      return;
    }
    const Model = models[`${data.apiVersion}/${data.kind}`];
    if (!Model) return problems.push(`${where}: no schema for ${data.apiVersion} ${data.kind}`);
    validate(Model, data, `${where} ${data.kind} ${data.metadata?.name}`);
    if (data.kind === "Deployment") {
      const spec = data.spec.template.spec;
      const volumes = new Set((spec.volumes || []).map((v) => v.name));
      for (const c of spec.containers) {
        for (const m of c.volumeMounts || [])
          if (!volumes.has(m.name)) problems.push(`${where}: ${c.name} mounts unknown volume ${m.name}`);
        if (c.name === "lifeboat") checkLifeboat(c, `${where} ${data.metadata.name}/lifeboat`);
      }
    }
  });
}
for (const p of problems) console.log(p);
console.log(`${checked} objects valid, ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
