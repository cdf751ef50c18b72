/** The commented starter file `onionscale init` writes. It must parse: a unit test loads it. */
export const STARTER_CONFIG = `# onionscale.yaml — one file for the whole stack:
#   tor onion service → haproxy (unix socket) → app instances → hardened Redis
# Durations are strings (500ms, 30s, 5m, 24h), sizes too (64kb, 256mb). \`onionscale schema\` prints the JSON Schema.

# Runtime files, onion keys, logs and secrets; relative to this file. Keep it out of your web root.
stateDir: .onionscale

onion:
  services:
    - name: main
      # Virtual ports of the onion service (what visitors type after the .onion address).
      ports: [80]
      # Where haproxy listens for tor: "unix" = a 0600 socket in the state dir (nothing on TCP at all).
      listen: unix
      dos:
        # Rate-limit introductions at the introduction points (tor's defaults are 25/s, burst 200).
        introDefense: { rate: 25, burst: 200 }
        # Proof-of-work: under load, clients solve a small puzzle before they get in.
        pow: { queueRate: 250, queueBurst: 2500 }
        # Streams (TCP connections) one circuit may open; the circuit is closed when it asks for more.
        maxStreams: 50
        maxStreamsCloseCircuit: true

apps:
  # The built-in demo forum (docs/forum.md), three instances behind the balancer sharing one SQLite file (seeded
  # with 100k posts on first start) and Redis. \`builtin: sample\` is a one-page app. Replace it with your own:
  #   - name: web
  #     command: ["node", "server.js"]   # must listen on 127.0.0.1:$PORT and answer GET /healthz with 200
  #     instances: 4
  #     basePort: 8081                   # instance i listens on basePort + i
  # or serve a folder (the static site of the seed):
  #   - name: site
  #     static: ./public
  #     instances: 2
  - name: web
    builtin: forum
    instances: 3
    basePort: 8081
    env:
      FORUM_DB: .onionscale/forum.db      # relative to this file
      FORUM_SEED_POSTS: "100000"          # only used when the database is new

# The local dashboard (docs/dashboard.md): http://127.0.0.1:8090/ — states, req/s, latency, cache hits, limiter
# blocks, SSE streams, Redis memory, where request time goes; Prometheus at /metrics. Never reachable over the onion.
dashboard:
  port: 8090

balancer:
  # The request header that carries the Tor circuit (haproxy always overwrites what a client sends).
  circuitHeader: X-Onion-Circuit
  healthPath: /healthz
  healthInterval: 2s
  timeouts:
    connect: 3s
    # Idle time on a connection; server-sent-event streams must send a heartbeat more often than this.
    client: 5m
    server: 5m
    httpRequest: 15s
  perCircuit:
    # Behind tor every client is 127.0.0.1: limits are per Tor circuit instead.
    maxConnections: 30
    requestRate: 300
    window: 10s

redis:
  # "unix" (default): a socket in a 0700 directory. A generated password is kept in secrets/ (mode 0600).
  listen: unix
  maxmemory: 256mb
  maxmemoryPolicy: allkeys-lru
  appendonly: true

tor:
  # public: the real Tor network. disabled: DisableNetwork 1 (keys and address only, nothing published).
  network: public
  # How long \`up\` waits for tor to reach the network before it prints the status and moves on.
  bootstrapWait: 20s
  # Egress for apps that must fetch through Tor (off: SocksPort 0):
  # socksPort: 9050
`;
