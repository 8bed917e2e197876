/**
 * The Kubernetes manifests (deploy/kubernetes): the base and the demo overlay are rendered with
 * `kubectl kustomize` (kubectl 1.20 from Debian's kubernetes-client in CI: its kustomize v2 is the
 * oldest this must render with), every object is validated against the Kubernetes schemas
 * (kubernetes-models) and KEDA's (@kubernetes-models/keda), and what must hold for nightshift to
 * run is checked against the code: each process kind's own nkey seed, the NATS cluster the
 * processes are pointed at, the work stream and consumers KEDA watches, the sizing of the JetStream
 * store, the probes, the resources, the agents' Node.js flags, the web console's Service and token,
 * and that no secret is kept in a ConfigMap.
 * Without kubectl the suite is skipped, except under CI (CI=true), where it fails.
 * One file because every test reads the same rendered objects (kustomize runs once, for the base and
 * the overlay) and checks them against the same code: a split would render them again per file.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import * as apiAppsV1 from 'kubernetes-models/apps/v1';
import * as apiV1 from 'kubernetes-models/v1';
import * as kedaV1alpha1 from '@kubernetes-models/keda/keda.sh/v1alpha1';
import type { IContainer, IPodSpec, IVolume } from 'kubernetes-models/v1';
import type { IDeployment, IStatefulSet } from 'kubernetes-models/apps/v1';
import type { IScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNames, limitsFromConfig, PROCESS_KINDS, seedFile, storeBytesNeeded, writeServerAuth, type ProcessKind } from '../../bus/index.ts';
import { loadConfig, ROLES, type Role } from '../../shared/index.ts';
import { AGENT_NODE_FLAGS } from '../../cli/up.ts';
// Under CI a missing kubectl fails the suite instead of skipping it, as for Docker.
import { IN_CI } from '../../test/helpers/docker.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const KUBECTL = process.env.KUBECTL ?? 'kubectl';

/** The roles whose agents run code in a Docker sandbox: all but the triager (agents/registry.ts). */
const SANDBOX_ROLES: readonly Role[] = ROLES.filter((r) => r !== 'triager');
/** What `nightshift nats config` keeps its seeds and authorization in: the names the Secrets use. */
const SEED_KEY = (kind: ProcessKind) => basename(seedFile('.', kind));

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

type ModelClass = new (data: never) => { validate(): void };
/** Every apiVersion/kind the manifests may hold, mapped to the model class that validates it. */
const MODELS: Record<string, ModelClass> = {
  'v1/Namespace': apiV1.Namespace,
  'v1/ConfigMap': apiV1.ConfigMap,
  'v1/Secret': apiV1.Secret,
  'v1/Service': apiV1.Service,
  'apps/v1/Deployment': apiAppsV1.Deployment,
  'apps/v1/StatefulSet': apiAppsV1.StatefulSet,
  'keda.sh/v1alpha1/ScaledObject': kedaV1alpha1.ScaledObject,
};

const probe = await execa(KUBECTL, ['version', '--client'], { reject: false });
const kubectlReason = probe.exitCode === 0 ? null : `${KUBECTL} is not usable: ${probe.stderr || probe.message}`;

function describeKubectl(name: string, fn: () => void): void {
  if (!kubectlReason) return void describe(name, fn);
  if (IN_CI) {
    return void describe(name, () => {
      it('needs kubectl (CI=true: not skipped)', () => {
        throw new Error(`${kubectlReason}\n(scripts/install installs Debian's kubernetes-client when kubectl is missing)`);
      });
    });
  }
  describe.skip(`${name} [skipped: ${kubectlReason}]`, fn);
}

async function render(dir: string): Promise<K8sObject[]> {
  const out = await execa(KUBECTL, ['kustomize', join(HERE, dir)]);
  const docs = parseAllDocuments(out.stdout);
  const objects: K8sObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${dir}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as K8sObject | null;
    if (value !== null) objects.push(value);
  }
  return objects;
}

function validate(obj: K8sObject): void {
  const Model = MODELS[`${obj.apiVersion}/${obj.kind}`];
  if (!Model) throw new Error(`${obj.kind} ${obj.metadata?.name} (${obj.apiVersion}) is not a kind these manifests are checked for`);
  new Model(obj as never).validate();
}

// ---- lookups on a rendered set --------------------------------------------------------------

class Rendered {
  readonly objects: K8sObject[];
  constructor(objects: K8sObject[]) {
    this.objects = objects;
  }
  all<T>(kind: string): (T & K8sObject)[] {
    return this.objects.filter((o) => o.kind === kind) as (T & K8sObject)[];
  }
  one<T>(kind: string, name: string): T & K8sObject {
    const found = this.all<T>(kind).filter((o) => o.metadata.name === name);
    if (found.length !== 1) throw new Error(`expected one ${kind} ${name}, found ${found.length}`);
    return found[0]!;
  }
  configMap(name: string): Record<string, string> {
    return this.one<{ data?: Record<string, string> }>('ConfigMap', name).data ?? {};
  }
  deployments(): (IDeployment & K8sObject)[] {
    return this.all<IDeployment>('Deployment');
  }
  /** The environment a container sees from its envFrom ConfigMaps and its literal env values. */
  env(container: IContainer): Record<string, string> {
    const env: Record<string, string> = {};
    for (const from of container.envFrom ?? []) {
      if (from.configMapRef) Object.assign(env, this.configMap(from.configMapRef.name!));
    }
    for (const e of container.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
    return env;
  }
  /** The nightshift configuration a process is given, as the code reads it. */
  config(container: IContainer) {
    return loadConfig(this.env(container));
  }
}

function podSpec(w: IDeployment | IStatefulSet): IPodSpec {
  const spec = w.spec?.template.spec;
  if (!spec) throw new Error('a workload without a pod spec');
  return spec;
}

/** The nightshift process a container runs: its command after `node [flags] /app/bin/nightshift.mjs`. */
function nightshiftCommand(c: IContainer): string[] | null {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  const entry = argv.indexOf('/app/bin/nightshift.mjs');
  return argv[0] === 'node' && entry > 0 ? argv.slice(entry + 1) : null;
}

/** The Node.js flags a nightshift container runs with: between `node` and `/app/bin/nightshift.mjs`. */
function nodeFlags(c: IContainer): string[] {
  const argv = [...(c.command ?? []), ...(c.args ?? [])];
  return argv.slice(1, argv.indexOf('/app/bin/nightshift.mjs'));
}

/** The process kind (its bus credentials) of a nightshift command; null for one that does not use the bus. */
function kindOf(argv: string[]): ProcessKind | null {
  const [cmd, arg] = argv;
  if (cmd === 'agent') {
    if (!(ROLES as readonly string[]).includes(arg ?? '')) throw new Error(`agent of an unknown role: ${arg}`);
    return arg as Role;
  }
  if (cmd === 'coordinator' || cmd === 'slack' || cmd === 'github' || cmd === 'web') return cmd;
  if (cmd === 'mock-llm') return null;
  throw new Error(`a nightshift command these manifests are not checked for: ${argv.join(' ')}`);
}

/** Every Secret a volume draws on, with the keys it takes (undefined: all of them). */
function secretSources(v: IVolume): { name: string; keys: string[] | undefined }[] {
  const out: { name: string; keys: string[] | undefined }[] = [];
  if (v.secret) out.push({ name: v.secret.secretName!, keys: v.secret.items?.map((i) => i.key) });
  for (const s of v.projected?.sources ?? []) {
    if (s.secret) out.push({ name: s.secret.name!, keys: s.secret.items?.map((i) => i.key) });
  }
  return out;
}

function quantityBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|Ti)?$/.exec(q);
  if (!m) throw new Error(`a quantity this test does not read: ${q}`);
  const unit = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 }[m[2] as 'Ki'] ?? 1;
  return Number(m[1]) * unit;
}

/** A nats-server configuration value (`key: value` at any depth; the first occurrence). */
function natsValue(conf: string, key: string): string | undefined {
  return new RegExp(`^\\s*${key}\\s*[:=]?\\s*(.+?)\\s*$`, 'm').exec(conf)?.[1]?.replace(/^"(.*)"$/, '$1');
}

// ---- the checks -------------------------------------------------------------------------------

describeKubectl('Kubernetes manifests (deploy/kubernetes)', () => {
  let base: Rendered;
  let demo: Rendered;
  let authDir: string;
  let authFileName: string;

  beforeAll(async () => {
    base = new Rendered(await render('base'));
    demo = new Rendered(await render('overlays/demo'));
    // What `nightshift nats config` writes, to check the file names the Secrets carry against it.
    authDir = await mkdtemp(join(tmpdir(), 'nightshift-k8s-auth-'));
    const auth = await writeServerAuth(authDir);
    authFileName = basename(auth.config);
    for (const kind of PROCESS_KINDS) expect(basename(auth.seeds[kind])).toBe(SEED_KEY(kind));
  });
  afterAll(async () => {
    if (authDir) await rm(authDir, { recursive: true, force: true });
  });

  const sets = () => [
    ['base', base, 'nightshift'],
    ['demo', demo, 'nightshift-demo'],
  ] as const;

  it('the validator refuses what the Kubernetes schema refuses (it can fail)', () => {
    const broken = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'x' }, spec: { replicas: 'two', selector: {}, template: {} } };
    expect(() => validate(broken as unknown as K8sObject)).toThrow(/replicas/);
    expect(() => validate({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' } })).toThrow(/not a kind/);
  });

  it('every object of the base and the demo overlay is valid against its schema, in its namespace', () => {
    for (const [name, set, namespace] of sets()) {
      expect(set.objects.length, name).toBeGreaterThan(10);
      for (const obj of set.objects) {
        expect(() => validate(obj), `${name}: ${obj.kind} ${obj.metadata.name}`).not.toThrow();
        if (obj.kind === 'Namespace') expect(obj.metadata.name).toBe(namespace);
        else expect(obj.metadata.namespace, `${name}: ${obj.kind} ${obj.metadata.name}`).toBe(namespace);
      }
    }
  });

  it('runs a coordinator, an agent per role, both gateways and the web console, each with the image and command the CLI knows', () => {
    for (const [name, set] of sets()) {
      const kinds = new Map<ProcessKind, string>();
      for (const d of set.deployments()) {
        for (const c of podSpec(d).containers) {
          const argv = nightshiftCommand(c);
          if (!argv) continue;
          expect(c.image, `${name}: ${d.metadata.name}`).toBe('nightshift:0.1.0');
          expect(c.imagePullPolicy).toBe('IfNotPresent');
          const kind = kindOf(argv);
          if (kind) {
            expect(kinds.has(kind), `${name}: two Deployments of ${kind}`).toBe(false);
            kinds.set(kind, d.metadata.name);
          }
        }
      }
      expect([...kinds.keys()].sort(), name).toEqual(['coordinator', ...ROLES, 'slack', 'github', 'web'].sort());
      const nats = set.one<IStatefulSet>('StatefulSet', 'nats');
      expect(podSpec(nats).containers[0]!.image).toBe('nightshift-nats:2.9');
      expect(podSpec(nats).containers[0]!.imagePullPolicy).toBe('IfNotPresent');
    }
    expect(base.one<IDeployment>('Deployment', 'coordinator').spec?.replicas).toBe(2);
  });

  it('every container has liveness and readiness probes and CPU and memory requests and limits', () => {
    for (const [name, set] of sets()) {
      const workloads = [...set.deployments(), ...set.all<IStatefulSet>('StatefulSet')];
      for (const w of workloads) {
        for (const c of podSpec(w).containers) {
          const where = `${name}: ${w.metadata.name}/${c.name}`;
          expect(c.livenessProbe, where).toBeDefined();
          expect(c.readinessProbe, where).toBeDefined();
          for (const r of ['cpu', 'memory']) {
            expect(c.resources?.requests?.[r], `${where} requests ${r}`).toBeDefined();
            expect(c.resources?.limits?.[r], `${where} limits ${r}`).toBeDefined();
          }
        }
      }
    }
  });

  it('every nightshift process serves /healthz and /readyz on the health port its configuration sets', () => {
    for (const [name, set] of sets()) {
      for (const d of set.deployments()) {
        for (const c of podSpec(d).containers) {
          const argv = nightshiftCommand(c);
          if (!argv || !kindOf(argv)) continue;
          const env = set.env(c);
          const where = `${name}: ${d.metadata.name}`;
          expect(env.NIGHTSHIFT_HEALTH_HOST, where).toBe('0.0.0.0');
          const port = Number(env.NIGHTSHIFT_HEALTH_PORT);
          const named = c.ports?.find((p) => p.name === c.livenessProbe?.httpGet?.port);
          expect(named?.containerPort, where).toBe(port);
          expect(c.livenessProbe?.httpGet?.path, where).toBe('/healthz');
          expect(c.readinessProbe?.httpGet?.path, where).toBe('/readyz');
          expect(c.readinessProbe?.httpGet?.port, where).toBe(c.livenessProbe?.httpGet?.port);
        }
      }
    }
  });

  it('each process kind mounts its own nkey seed and no other kind\'s, and its configuration is valid', () => {
    for (const [name, set] of sets()) {
      for (const d of set.deployments()) {
        const spec = podSpec(d);
        const main = spec.containers.find((c) => nightshiftCommand(c));
        const kind = main ? kindOf(nightshiftCommand(main)!) : null;
        const secrets = (spec.volumes ?? []).flatMap(secretSources);
        const where = `${name}: ${d.metadata.name}`;
        for (const other of PROCESS_KINDS) {
          if (other === kind) continue;
          for (const s of secrets) {
            expect(s.name, `${where} mounts the ${other} seed`).not.toBe(`nightshift-nkey-${other}`);
            expect(s.keys ?? [], `${where} mounts the ${other} seed`).not.toContain(SEED_KEY(other));
          }
        }
        if (!main || !kind) continue;
        const config = set.config(main);
        expect(config.NATS_NKEY, where).toBe(posix.join('/etc/nightshift/nats', SEED_KEY(kind)));
        const mount = main.volumeMounts?.find((m) => m.mountPath === posix.dirname(config.NATS_NKEY!));
        const volume = spec.volumes?.find((v) => v.name === mount?.name);
        expect(volume?.secret?.secretName, where).toBe(`nightshift-nkey-${kind}`);
        expect(volume?.secret?.items?.map((i) => [i.key, i.path]), where).toEqual([[SEED_KEY(kind), SEED_KEY(kind)]]);
      }
    }
  });

  it('keeps no secret in a ConfigMap: the base ships no Secret, the demo\'s values are in Secrets only', () => {
    expect(base.all('Secret')).toEqual([]);
    const secretKeys = ['NIGHTSHIFT_WEB_TOKEN', 'OPENAI_API_KEY', 'GITHUB_TOKEN', 'GITHUB_WEBHOOK_SECRET', 'GITHUB_APP_PRIVATE_KEY', 'SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN', 'SLACK_SIGNING_SECRET', 'NATS_PASSWORD', 'NATS_TOKEN'];
    for (const [name, set] of sets()) {
      const values = set.all<{ data?: Record<string, string>; stringData?: Record<string, string> }>('Secret').flatMap((s) => [
        ...Object.values(s.data ?? {}).map((v) => Buffer.from(v, 'base64').toString('utf8')),
        ...Object.values(s.stringData ?? {}),
      ]);
      if (name === 'demo') expect(values.length).toBeGreaterThan(0);
      for (const cm of set.all<{ data?: Record<string, string> }>('ConfigMap')) {
        for (const [key, text] of Object.entries(cm.data ?? {})) {
          expect(secretKeys, `${name}: ConfigMap ${cm.metadata.name} holds ${key}`).not.toContain(key);
          for (const v of values) expect(text.includes(v), `${name}: ConfigMap ${cm.metadata.name}/${key} holds a Secret's value`).toBe(false);
        }
      }
      for (const d of set.deployments()) {
        for (const c of podSpec(d).containers) {
          for (const e of c.env ?? []) {
            if (secretKeys.includes(e.name)) expect(e.valueFrom?.secretKeyRef, `${name}: ${d.metadata.name} sets ${e.name} literally`).toBeDefined();
          }
        }
      }
    }
  });

  it('runs every agent with the Node.js flags `nightshift up` gives agents, and no other process with any', () => {
    expect(AGENT_NODE_FLAGS).toContain('--optimize-for-size');
    for (const [name, set] of sets()) {
      for (const d of set.deployments()) {
        for (const c of podSpec(d).containers) {
          const argv = nightshiftCommand(c);
          if (!argv) continue;
          expect(nodeFlags(c), `${name}: ${d.metadata.name}`).toEqual(argv[0] === 'agent' ? AGENT_NODE_FLAGS : []);
        }
      }
    }
  });

  it('serves the web console through a ClusterIP Service on its configured port, with its token from a Secret', () => {
    for (const [name, set] of sets()) {
      const d = set.one<IDeployment>('Deployment', 'web');
      const container = podSpec(d).containers.find((c) => nightshiftCommand(c)?.[0] === 'web')!;
      const config = set.config(container);
      const where = `${name}: web`;
      // Beyond the pod's loopback, where the Service reaches it (reading then needs credentials too).
      expect(config.NIGHTSHIFT_WEB_HOST, where).toBe('0.0.0.0');
      const service = set.one<{ spec: { type?: string; selector: Record<string, string>; ports: { port: number; targetPort: string | number }[] } }>('Service', 'web');
      // Inside the cluster only: people reach it through an authenticating proxy or a port-forward.
      expect(service.spec.type ?? 'ClusterIP', where).toBe('ClusterIP');
      for (const [k, v] of Object.entries(service.spec.selector)) expect(d.spec?.template.metadata?.labels?.[k], where).toBe(v);
      const port = service.spec.ports[0]!;
      const target = container.ports?.find((p) => p.name === port.targetPort || p.containerPort === port.targetPort);
      expect(target?.containerPort, where).toBe(config.NIGHTSHIFT_WEB_PORT);
      const token = container.env?.find((e) => e.name === 'NIGHTSHIFT_WEB_TOKEN');
      expect(token?.value, where).toBeUndefined();
      expect(token?.valueFrom?.secretKeyRef?.key, where).toBe('NIGHTSHIFT_WEB_TOKEN');
      expect(token?.valueFrom?.secretKeyRef?.optional ?? false, where).toBe(false);
    }
    // The demo generates that Secret, with a token the console accepts (16 characters or more).
    const container = podSpec(demo.one<IDeployment>('Deployment', 'web')).containers[0]!;
    const ref = container.env!.find((e) => e.name === 'NIGHTSHIFT_WEB_TOKEN')!.valueFrom!.secretKeyRef!;
    const secret = demo.one<{ data: Record<string, string> }>('Secret', ref.name!);
    const token = Buffer.from(secret.data[ref.key]!, 'base64').toString('utf8');
    expect(loadConfig({ ...demo.env(container), NIGHTSHIFT_WEB_TOKEN: token }).NIGHTSHIFT_WEB_TOKEN).toBe(token);
  });

  it('points every process at the 3 NATS pods, with streams of 3 replicas', () => {
    for (const [name, set] of sets()) {
      const nats = set.one<IStatefulSet>('StatefulSet', 'nats');
      const replicas = nats.spec!.replicas!;
      expect(replicas).toBe(3);
      const headless = set.one<{ spec: { clusterIP?: string; publishNotReadyAddresses?: boolean } }>('Service', nats.spec!.serviceName!);
      expect(headless.spec.clusterIP).toBe('None');
      expect(headless.spec.publishNotReadyAddresses).toBe(true);
      const pods = Array.from({ length: replicas }, (_, i) => `nats-${i}.${nats.spec!.serviceName}`);
      for (const d of set.deployments()) {
        for (const c of podSpec(d).containers) {
          const argv = nightshiftCommand(c);
          if (!argv || !kindOf(argv)) continue;
          const config = set.config(c);
          const where = `${name}: ${d.metadata.name}`;
          expect(String(config.NATS_URL).split(','), where).toEqual(pods.map((p) => `nats://${p}:4222`));
          expect(set.env(c).NIGHTSHIFT_JS_REPLICAS, where).toBe('3');
          expect(config.NIGHTSHIFT_JS_REPLICAS, where).toBe(replicas);
        }
      }
    }
  });

  it('configures NATS as a cluster of its pods, with the auth file `nats config` writes and a store that fits every stream', () => {
    for (const [name, set] of sets()) {
      const nats = set.one<IStatefulSet>('StatefulSet', 'nats');
      const spec = podSpec(nats);
      const container = spec.containers[0]!;
      const confVolume = spec.volumes?.find((v) => v.name === container.volumeMounts?.find((m) => m.mountPath === '/etc/nats')?.name);
      const sources = confVolume?.projected?.sources ?? [];
      const cmName = sources.find((s) => s.configMap)?.configMap?.name;
      const conf = set.configMap(cmName!)['nats.conf']!;
      expect(container.args).toEqual(['-c', '/etc/nats/nats.conf']);
      const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, e]));
      // server_name is the pod's name: KEDA reaches a consumer's leader as <server_name>.<endpoint>.
      expect(natsValue(conf, 'server_name')).toBe('$POD_NAME');
      expect(env.POD_NAME?.valueFrom?.fieldRef?.fieldPath).toBe('metadata.name');
      expect(natsValue(conf, 'http_port')).toBe('8222');
      for (const p of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
        expect(p?.httpGet?.path).toMatch(/^\/healthz/);
        expect(container.ports?.find((x) => x.name === p?.httpGet?.port)?.containerPort).toBe(8222);
      }
      const routes = [...conf.matchAll(/"nats-route:\/\/([^"]+)"/g)].map((m) => m[1]);
      expect(routes).toEqual(Array.from({ length: nats.spec!.replicas! }, (_, i) => `nats-${i}.${nats.spec!.serviceName}:6222`));
      // The authorization block: the Secret's file as `nightshift nats config` names it, next to nats.conf.
      const authItem = sources.find((s) => s.secret)?.secret;
      expect(authItem?.name).toBe('nightshift-nats-auth');
      expect(authItem?.items).toEqual([{ key: authFileName, path: `auth/${authFileName}` }]);
      expect(natsValue(conf, 'include')).toBe(`auth/${authFileName}`);
      // Sizing: every stream and bucket at the bounds the processes are configured with, plus 10%
      // (as `nats config` computes it), fits in max_file_store, which fits on the volume.
      expect(natsValue(conf, 'max_file_store')).toBe('$NATS_MAX_FILE_STORE');
      expect(Number(natsValue(conf, 'max_memory_store'))).toBe(256 * 1024 ** 2);
      const coordinator = podSpec(set.one<IDeployment>('Deployment', 'coordinator')).containers[0]!;
      const needed = storeBytesNeeded(limitsFromConfig(set.config(coordinator))) * 1.1;
      const maxFileStore = Number(env.NATS_MAX_FILE_STORE?.value);
      expect(maxFileStore, name).toBeGreaterThanOrEqual(needed);
      expect(maxFileStore, name).toBeLessThan(needed * 1.05);
      const claim = nats.spec!.volumeClaimTemplates!.find((t) => t.metadata?.name === 'data');
      expect(container.volumeMounts?.find((m) => m.name === 'data')?.mountPath).toBe(natsValue(conf, 'store_dir'));
      expect(quantityBytes(String(claim!.spec!.resources!.requests!.storage)), name).toBeGreaterThanOrEqual(maxFileStore);
    }
    expect(quantityBytes('10Gi')).toBe(quantityBytes(String(base.one<IStatefulSet>('StatefulSet', 'nats').spec!.volumeClaimTemplates![0]!.spec!.resources!.requests!.storage)));
  });

  it('gives the agents that run sandboxes a Docker engine of their own, sharing their workspaces at the same path', () => {
    for (const [name, set] of sets()) {
      for (const role of ROLES) {
        const d = set.one<IDeployment>('Deployment', `agent-${role}`);
        const spec = podSpec(d);
        const agent = spec.containers.find((c) => nightshiftCommand(c))!;
        const docker = spec.containers.find((c) => c.image?.startsWith('docker:'));
        const where = `${name}: agent-${role}`;
        if (!SANDBOX_ROLES.includes(role)) {
          expect(docker, where).toBeUndefined();
          expect(agent.env?.find((e) => e.name === 'DOCKER_HOST'), where).toBeUndefined();
          continue;
        }
        expect(docker?.image, where).toMatch(/dind-rootless$/);
        const host = agent.env?.find((e) => e.name === 'DOCKER_HOST')?.value ?? '';
        expect(host, where).toMatch(/^unix:\/\//);
        const socket = host.slice('unix://'.length);
        const agentMount = agent.volumeMounts?.find((m) => m.mountPath === posix.dirname(socket));
        const engineMount = docker!.volumeMounts?.find((m) => m.name === agentMount?.name);
        expect(engineMount, where).toBeDefined();
        // The engine listens on that socket only: never on TCP, where any pod could drive it.
        expect(docker!.args, where).toEqual(['dockerd', `--host=unix://${posix.join(engineMount!.mountPath, posix.basename(socket))}`]);
        // The engine bind-mounts workspaces by the agent's path: both must see them there.
        const workspaces = set.config(agent).NIGHTSHIFT_WORKSPACES_DIR;
        const shared = agent.volumeMounts?.find((m) => workspaces.startsWith(`${m.mountPath}/`));
        expect(shared, where).toBeDefined();
        expect(docker!.volumeMounts?.find((m) => m.name === shared!.name)?.mountPath, where).toBe(shared!.mountPath);
        expect(quantityBytes(String(agent.resources?.requests?.memory)), where).toBeGreaterThanOrEqual(quantityBytes('512Mi'));
      }
    }
    for (const role of ['test-author', 'coder', 'reviewer'] as const) {
      const agent = podSpec(base.one<IDeployment>('Deployment', `agent-${role}`)).containers[0]!;
      expect(agent.resources?.requests).toEqual({ cpu: '1', memory: '1Gi' });
    }
    const coordinator = podSpec(base.one<IDeployment>('Deployment', 'coordinator')).containers[0]!;
    expect(coordinator.resources?.requests).toEqual({ cpu: '100m', memory: '128Mi' });
  });

  it('scales each agent role with KEDA on its own durable consumer of the work stream', () => {
    for (const [name, set, namespace] of sets()) {
      const scaled = set.all<IScaledObject>('ScaledObject');
      expect(scaled.length, name).toBe(ROLES.length);
      const nats = set.one<IStatefulSet>('StatefulSet', 'nats');
      for (const role of ROLES) {
        const d = set.one<IDeployment>('Deployment', `agent-${role}`);
        const agent = podSpec(d).containers.find((c) => nightshiftCommand(c))!;
        const names = createNames(set.config(agent).NIGHTSHIFT_PREFIX);
        const mine = scaled.filter((s) => s.spec.scaleTargetRef.name === d.metadata.name);
        expect(mine.length, `${name}: ScaledObjects of agent-${role}`).toBe(1);
        const so = mine[0]!;
        expect(so.spec.triggers.length).toBe(1);
        const trigger = so.spec.triggers[0]!;
        expect(trigger.type).toBe('nats-jetstream');
        const where = `${name}: ${so.metadata!.name}`;
        expect(trigger.metadata.stream, where).toBe(names.workStream);
        expect(trigger.metadata.consumer, where).toBe(names.roleConsumer(role));
        // No accounts in the authorization `nats config` writes: every user is in the global account.
        expect(trigger.metadata.account, where).toBe('$G');
        expect(trigger.metadata.natsServerMonitoringEndpoint, where).toBe(`${nats.spec!.serviceName}.${namespace}.svc.cluster.local:8222`);
        expect(Number(trigger.metadata.lagThreshold), where).toBeGreaterThan(0);
        expect(so.spec.minReplicaCount, where).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it('the demo runs one of everything against the mock-llm Service', () => {
    const llm = demo.one<IDeployment>('Deployment', 'mock-llm');
    const container = podSpec(llm).containers[0]!;
    const argv = nightshiftCommand(container)!;
    expect(argv[0]).toBe('mock-llm');
    const flag = (f: string) => argv[argv.indexOf(f) + 1];
    // The image holds the repository's files under /app (deploy/image/Dockerfile).
    expect(flag('--script')).toMatch(/^\/app\//);
    expect(existsSync(join(ROOT, flag('--script')!.slice('/app/'.length)))).toBe(true);
    expect(flag('--host')).toBe('0.0.0.0');
    const service = demo.one<{ spec: { selector: Record<string, string>; ports: { port: number; targetPort: string | number }[] } }>('Service', 'mock-llm');
    for (const [k, v] of Object.entries(service.spec.selector)) expect(llm.spec?.template.metadata?.labels?.[k]).toBe(v);
    const port = service.spec.ports[0]!;
    const target = container.ports?.find((p) => p.name === port.targetPort || p.containerPort === port.targetPort);
    expect(target?.containerPort).toBe(Number(flag('--port')));
    for (const d of demo.deployments()) {
      expect(d.spec?.replicas ?? 1, d.metadata.name).toBeLessThanOrEqual(1);
      for (const c of podSpec(d).containers) {
        const a = nightshiftCommand(c);
        if (!a || !kindOf(a)) continue;
        expect(demo.config(c).OPENAI_BASE_URL, d.metadata.name).toBe(`http://${service.metadata.name}:${port.port}/v1`);
      }
    }
    for (const so of demo.all<IScaledObject>('ScaledObject')) expect(so.spec.maxReplicaCount).toBe(1);
    expect(demo.one<IDeployment>('Deployment', 'slack').spec?.replicas).toBe(0);
  });
});
