// validate-kubernetes.mjs: offline schema check of deploy/kubernetes/*.yaml with the
// Kubernetes OpenAPI schemas shipped in the npm package kubernetes-models (no cluster).
// Also checks what the schema cannot: every container is non-root, read-only, without
// privilege escalation or capabilities, and the AppRole volume is memory-backed.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { ServiceAccount } from "kubernetes-models/v1/ServiceAccount";

const models = { "apps/v1/Deployment": Deployment, "v1/ConfigMap": ConfigMap, "v1/ServiceAccount": ServiceAccount };
const dir = process.argv[2];
let failures = 0;
const fail = (where, what) => { console.error(`${where}: ${what}`); failures++; };

for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
  for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
    if (doc.errors.length) { fail(file, doc.errors.join("; ")); continue; }
    const obj = doc.toJS();
    const Model = models[`${obj.apiVersion}/${obj.kind}`];
    if (!Model) { fail(file, `no schema for ${obj.apiVersion} ${obj.kind}`); continue; }
    try { new Model(obj).validate(); } catch (e) { fail(`${file} ${obj.kind}`, e.message); continue; }
    if (obj.kind !== "Deployment") continue;
    const spec = obj.spec.template.spec;
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
      const sc = c.securityContext ?? {};
      if (sc.readOnlyRootFilesystem !== true) fail(`${file} ${c.name}`, "root filesystem not read-only");
      if (sc.allowPrivilegeEscalation !== false) fail(`${file} ${c.name}`, "privilege escalation allowed");
      if (!(sc.capabilities?.drop ?? []).includes("ALL")) fail(`${file} ${c.name}`, "capabilities not dropped");
      if (!(sc.runAsUser > 0) && spec.securityContext?.runAsNonRoot !== true) fail(`${file} ${c.name}`, "may run as root");
    }
    const approle = spec.volumes.find((v) => v.name === "approle");
    if (approle?.emptyDir?.medium !== "Memory") fail(file, "the approle volume is not memory-backed");
    const sidecar = spec.containers.find((c) => c.name === "smtp-sidecar");
    if (!JSON.stringify(sidecar?.readinessProbe ?? {}).includes("/v1/ready")) fail(file, "no /v1/ready probe");
  }
  console.log(`ok ${file}`);
}
process.exit(failures ? 1 : 0);
