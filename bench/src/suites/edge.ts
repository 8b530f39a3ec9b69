/**
 * DPoP at the edge: a proxy forwards, Keybound's verify service only judges. In one run, all in
 * front of the same upstream app (`gateway-child.js upstream`), over real HTTP on 127.0.0.1 with
 * a fresh ES256 proof per request:
 *
 * - the in-process Fastify DPoP route (`direct`, the baseline);
 * - nginx (`auth_request`) + verify service, from `docs/edge/nginx.conf`;
 * - Caddy (`forward_auth`) + verify service, from `docs/edge/Caddyfile`;
 * - Keybound's own gateway;
 * - the verify service alone: a check request (`/check`, forwarded method and URI), no upstream.
 *
 * And, in the same rounds against the same upstream, the ceilings those contenders are read
 * against: nginx and Caddy with the same recipes in front of a check server that answers 204 at
 * once (`gateway-child.js allow`: no verification, so the bound on any check service behind that
 * proxy), nginx `proxy_pass` alone (no auth, for scale), and that 204 server asked the verify
 * service's check request directly (the HTTP floor of any check service). The shares case puts
 * each contender over its ceiling.
 *
 * Requests per server CPU-second count every server process of a contender: nginx (master and
 * workers) and Caddy are read from `/proc`, the Node children over IPC. Throughput and latency
 * are measured as in the gateway suite (autocannon with 32 connections; one keep-alive
 * connection, sequential, for p50/p99), turns alternating contender by contender each round.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { freePort, startIssuer } from '../lib/http-fixtures.js'
import { dpopRequestPool, type BoundClient } from '../lib/proofs.js'
import {
  evaluateTargets,
  loadRows,
  ratioBetween,
  type MeasurementRow,
  type Suite,
} from '../lib/suite.js'
import {
  boundClients,
  latencyRowsOf,
  latencyTurn,
  ms,
  startApp,
  throughputTurn,
  type App,
  type Contender,
  type LatencyTurn,
  type ThroughputTurn,
} from './gateway.js'

const RECIPES = fileURLToPath(new URL('../../../docs/edge/', import.meta.url))
const CLIENTS = 16
const DIRECT = 'keybound/fastify in-process (direct)'
const NGINX = 'nginx auth_request + verify service -> upstream'
const CADDY = 'caddy forward_auth + verify service -> upstream'
const GATEWAY = 'keybound gateway -> upstream'
const ALONE = 'verify service alone (check request, no upstream)'
const NGINX_ALLOW = 'ceiling: nginx auth_request + 204 check (no verification) -> upstream'
const CADDY_ALLOW = 'ceiling: caddy forward_auth + 204 check (no verification) -> upstream'
const NGINX_PASS = 'scale: nginx proxy_pass alone (no auth) -> upstream'
const ALLOW_ALONE = 'ceiling: bare node:http 204 (check request, no verification)'
/** Rounds of every contender; the ratios are medians of per-round ratios, so an odd count. */
const ROUNDS = 5

/**
 * nginx forwarding with no auth at all, with the recipe's process, keep-alive and upstream
 * settings, so that the only difference to the recipe is the `auth_request` subrequest.
 */
const NGINX_PASS_ONLY = `worker_processes auto;
pid nginx.pid;
error_log stderr warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    client_body_temp_path client_body_temp;
    proxy_temp_path proxy_temp;
    fastcgi_temp_path fastcgi_temp;
    uwsgi_temp_path uwsgi_temp;
    scgi_temp_path scgi_temp;
    upstream api {
        server __UPSTREAM__;
        keepalive 32;
    }
    server {
        listen __LISTEN__;
        location / {
            proxy_set_header Host $host;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://api;
        }
    }
}
`

/** A proxy run from its recipe: its port and the pids whose CPU it spends. */
interface Proxy {
  readonly port: number
  readonly child: ChildProcess
  readonly dir: string
  pids(): number[]
}

/** An edge contender: the gateway suite's, plus a proxy whose CPU is read from /proc. */
interface EdgeContender extends Contender {
  readonly proxy?: Proxy
  /** Headers every request also carries (the check's forwarded method and URI). */
  readonly extra?: Record<string, string>
}

/** Clock ticks of user + system time of `pids` (Linux `/proc/<pid>/stat`, fields 14 and 15). */
function procTicks(pids: readonly number[]): number {
  let ticks = 0
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // A worker that has exited has no CPU left to count.
    }
  }
  return ticks
}

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100

/** Processes whose parent is `parent` (nginx's workers; none for Caddy), from `/proc`. */
function childPids(parent: number): number[] {
  const found: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      if (ppid === parent) found.push(Number(entry))
    } catch {
      // Gone between the listing and the read.
    }
  }
  return found
}

/**
 * Runs nginx or Caddy from its recipe in `docs/edge/` (or from `template`, same placeholders),
 * with the check going to `keybound` and the traffic to `upstream`.
 */
async function startProxy(
  name: 'nginx' | 'caddy',
  port: number,
  keybound: number,
  upstream: number,
  template?: string,
): Promise<Proxy> {
  const recipe = name === 'nginx' ? 'nginx.conf' : 'Caddyfile'
  const text = (template ?? readFileSync(join(RECIPES, recipe), 'utf8'))
    .replaceAll('__LISTEN__', `127.0.0.1:${port}`)
    .replaceAll('__KEYBOUND__', `127.0.0.1:${keybound}`)
    .replaceAll('__UPSTREAM__', `127.0.0.1:${upstream}`)
  const dir = await mkdtemp(join(tmpdir(), `keybound-bench-${name}-`))
  await writeFile(join(dir, recipe), text)
  const [binary, args] =
    name === 'nginx'
      ? ['/usr/sbin/nginx', ['-p', dir, '-c', join(dir, recipe), '-g', 'daemon off;']]
      : ['/usr/bin/caddy', ['run', '--config', join(dir, recipe), '--adapter', 'caddyfile']]
  if (!existsSync(binary)) throw new Error(`${binary} is missing: apt-get install -y nginx caddy`)
  const child = spawn(binary, args, {
    cwd: dir,
    env: { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
    stdio: 'ignore',
  })
  for (let i = 0; i < 400; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    )
    if (up) break
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return {
    port,
    child,
    dir,
    pids() {
      return [child.pid!, ...childPids(child.pid!)]
    },
  }
}

async function stopProxy(proxy: Proxy): Promise<void> {
  proxy.child.kill('SIGTERM')
  await new Promise((resolve) => proxy.child.once('exit', resolve))
  await rm(proxy.dir, { recursive: true, force: true })
}

type Headers = Record<string, string>

function pool(contender: EdgeContender, clients: readonly BoundClient[], size: number) {
  const url = `http://127.0.0.1:${contender.proxy?.port ?? contender.entry.port}/items`
  return dpopRequestPool(url, clients, size).then((headers: Headers[]) =>
    headers.map((each) => ({ ...each, ...contender.extra })),
  )
}

/** A throughput turn with the proxy's CPU added to the Node processes'. */
async function edgeThroughput(
  contender: EdgeContender,
  headers: Headers[],
  seconds: number,
): Promise<ThroughputTurn> {
  const pids = contender.proxy?.pids() ?? []
  const before = procTicks(pids)
  const turn = await throughputTurn(contender, headers, seconds)
  const proxyCpu = (procTicks(pids) - before) / TICKS_PER_SECOND
  const ok = turn.rps * seconds
  if (proxyCpu <= 0 || turn.perCpuSecond <= 0) return turn
  return { ...turn, perCpuSecond: ok / (ok / turn.perCpuSecond + proxyCpu) }
}

/** One share: `contender / ceiling` in requests/s or per CPU-second, as the targets read it. */
function share(
  rows: readonly MeasurementRow[],
  contender: string,
  ceiling: string,
  label: string,
): MeasurementRow {
  const find = (name: string) => rows.find((row) => row.name === name)!
  return { name: label, value: ratioBetween(find(contender), find(ceiling)) }
}

/**
 * How close each contender comes to what this machine allows it: the verifying proxies over the
 * same proxy with a 204 check, the verify service over a bare 204 server, and the ceilings over
 * the targets' baselines (the best either target could reach here).
 */
function sharesOf(
  rps: readonly MeasurementRow[],
  cpu: readonly MeasurementRow[],
): MeasurementRow[] {
  return [
    share(rps, NGINX, NGINX_ALLOW, 'req/s: nginx + verify / nginx + 204 check'),
    share(rps, CADDY, CADDY_ALLOW, 'req/s: caddy + verify / caddy + 204 check'),
    share(rps, ALONE, ALLOW_ALONE, 'req/s: verify alone / bare 204'),
    share(rps, NGINX_ALLOW, NGINX_PASS, 'req/s: nginx + 204 check / nginx proxy_pass alone'),
    share(rps, NGINX_ALLOW, GATEWAY, 'req/s: nginx + 204 check / gateway (target 1 ceiling)'),
    share(rps, ALLOW_ALONE, DIRECT, 'req/s: bare 204 / in-process route (target 2 ceiling)'),
    share(cpu, NGINX, NGINX_ALLOW, 'req/CPU-s: nginx + verify / nginx + 204 check'),
    share(cpu, ALONE, ALLOW_ALONE, 'req/CPU-s: verify alone / bare 204'),
  ]
}

export const edge: Suite = {
  name: 'edge',
  description:
    'nginx / Caddy + verify service vs gateway vs in-process route, HTTP on loopback, ES256, fresh proof per request',
  async run(context) {
    const seconds = context.quick ? 1 : 4
    const latencyRequests = context.quick ? 300 : 2000
    const rounds = ROUNDS
    const issuer = await startIssuer()
    const apps: App[] = []
    const proxies: Proxy[] = []
    try {
      const clients = await boundClients(issuer, CLIENTS)
      const start = async (...args: Parameters<typeof startApp>) => {
        const app = await startApp(...args)
        apps.push(app)
        return app
      }
      const upstream = await start('upstream', issuer.issuer, issuer.jwksUri)
      const direct = await start('direct', issuer.issuer, issuer.jwksUri)
      const gatewayApp = await start('gateway', issuer.issuer, issuer.jwksUri, upstream)
      const [nginxPort, caddyPort] = [await freePort(), await freePort()]
      const nginxVerify = await start('verify', issuer.issuer, issuer.jwksUri, {
        port: nginxPort,
      } as App)
      const caddyVerify = await start('verify', issuer.issuer, issuer.jwksUri, {
        port: caddyPort,
      } as App)
      const alone = await start('verify', issuer.issuer, issuer.jwksUri)
      // One 204 server answers every ceiling's check; each turn counts only its own CPU delta.
      const allow = await start('allow', issuer.issuer, issuer.jwksUri)
      const proxy = async (...args: Parameters<typeof startProxy>) => {
        const started = await startProxy(...args)
        proxies.push(started)
        return started
      }
      const nginx = await proxy('nginx', nginxPort, nginxVerify.port, upstream.port)
      const caddy = await proxy('caddy', caddyPort, caddyVerify.port, upstream.port)
      const nginxAllow = await proxy('nginx', await freePort(), allow.port, upstream.port)
      const caddyAllow = await proxy('caddy', await freePort(), allow.port, upstream.port)
      const nginxPass = await proxy(
        'nginx',
        await freePort(),
        allow.port,
        upstream.port,
        NGINX_PASS_ONLY,
      )
      const check = { 'x-forwarded-method': 'GET', 'x-forwarded-uri': '/items' }
      const asEntry = (proxy: Proxy): App => ({ child: proxy.child, port: proxy.port })
      const contenders: EdgeContender[] = [
        { name: DIRECT, entry: direct, processes: [direct] },
        {
          name: NGINX,
          entry: asEntry(nginx),
          processes: [nginxVerify, upstream],
          proxy: nginx,
        },
        {
          name: NGINX_ALLOW,
          entry: asEntry(nginxAllow),
          processes: [allow, upstream],
          proxy: nginxAllow,
        },
        { name: NGINX_PASS, entry: asEntry(nginxPass), processes: [upstream], proxy: nginxPass },
        {
          name: CADDY,
          entry: asEntry(caddy),
          processes: [caddyVerify, upstream],
          proxy: caddy,
        },
        {
          name: CADDY_ALLOW,
          entry: asEntry(caddyAllow),
          processes: [allow, upstream],
          proxy: caddyAllow,
        },
        { name: GATEWAY, entry: gatewayApp, processes: [gatewayApp, upstream] },
        { name: ALONE, entry: alone, processes: [alone], path: '/check', extra: check },
        { name: ALLOW_ALONE, entry: allow, processes: [allow], path: '/check', extra: check },
      ]

      let fastest = 10_000
      const poolFor = (contender: EdgeContender, turnSeconds: number) =>
        pool(contender, clients, Math.ceil(fastest * turnSeconds * 2) + 1000)

      context.log('  warm-up: 1 s per contender')
      for (const contender of contenders) {
        const warm = await edgeThroughput(contender, await poolFor(contender, 1), 1)
        fastest = Math.max(fastest, warm.rps)
        await latencyTurn(contender, await pool(contender, clients, 200))
      }
      const throughput = new Map<EdgeContender, ThroughputTurn[]>(
        contenders.map((contender) => [contender, []]),
      )
      const latency = new Map<EdgeContender, LatencyTurn[]>(
        contenders.map((contender) => [contender, []]),
      )
      for (let round = 0; round < rounds; round++) {
        context.log(`  round ${round + 1}/${rounds}: ${contenders.length} contenders`)
        for (const contender of contenders) {
          const result = await edgeThroughput(contender, await poolFor(contender, seconds), seconds)
          fastest = Math.max(fastest, result.rps)
          throughput.get(contender)!.push(result)
        }
        for (const contender of contenders)
          latency
            .get(contender)!
            .push(await latencyTurn(contender, await pool(contender, clients, latencyRequests)))
      }

      const rps = loadRows(contenders, throughput, (each) => each.rps)
      const cpu = loadRows(contenders, throughput, (each) => each.perCpuSecond)
      const latencyRows = latencyRowsOf(contenders, latency)
      const base = latencyRows[0]!.value
      const addedRows: MeasurementRow[] = latencyRows.slice(1).map((row) => ({
        name: `${row.name}: added p50`,
        value: row.value - base,
        note: `${ms(row.value)} - ${ms(base)}`,
      }))
      const shares = sharesOf(rps, cpu)
      return [
        {
          name: 'requests/s, 32 connections',
          unit: 'req/s',
          higherIsBetter: true,
          baseline: DIRECT,
          rows: rps,
          targets: evaluateTargets(rps, [
            { contender: NGINX, baseline: GATEWAY, min: 1.0 },
            { contender: ALONE, baseline: DIRECT, min: 0.9 },
          ]),
        },
        {
          name: 'requests per server CPU-second (nginx, Caddy, verify service and upstream counted)',
          unit: 'req/CPU-s',
          higherIsBetter: true,
          baseline: DIRECT,
          rows: cpu,
          targets: [],
        },
        {
          name: 'latency p50, 1 connection, sequential',
          unit: 'ms',
          higherIsBetter: false,
          baseline: DIRECT,
          rows: latencyRows,
          targets: [],
        },
        {
          name: 'added latency p50 over the in-process route',
          unit: 'ms',
          higherIsBetter: false,
          baseline: addedRows[0]!.name,
          rows: addedRows,
          targets: evaluateTargets(addedRows, [{ contender: addedRows[0]!.name, max: 1 }]),
        },
        {
          name: 'shares of the ceilings (median of per-round ratios; the value is the share)',
          unit: 'x',
          higherIsBetter: true,
          // None: every row is already a ratio, contender over ceiling.
          baseline: '',
          rows: shares,
          targets: [],
        },
      ]
    } finally {
      for (const proxy of proxies) await stopProxy(proxy)
      for (const app of apps) app.child.kill()
      issuer.server.closeAllConnections()
      issuer.server.close()
    }
  },
}
