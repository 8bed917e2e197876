import { ROLES } from '../shared/index.ts';
import { EXIT_HELP } from './exit.ts';

/** `nightshift --help`. */
export const USAGE = `nightshift — background agents for software delivery

usage: nightshift <command> [options]   (the command first, then its options)

  up [--demo] [--replicas coder=3,…] [--handler <role>=<module>]… [--port 4222] [--cluster 3]
                                 the local stack in the foreground: an embedded nats-server
                                 (unless --nats/NATS_URL; --cluster 3: a 3-node JetStream cluster
                                 on ports from --port, streams with 3 replicas; a server that dies
                                 is restarted on its data), the coordinator and the agents;
                                 --demo runs one ticket on the shipped demo repository offline
                                 (a scripted model), prints its pull request, and stops
  coordinator                    run a coordinator (any number may run at once)
  slack                          run the Slack gateway: escalations to SLACK_CHANNEL, answers back
                                 (any number may run at once; docs/slack.md)
  agent <role> [--handler <module>]
                                 run an agent process; roles: ${ROLES.join(', ')}
  ticket create --title <t> --body <b> --repo <path|url> [--base-branch <b>] [--type feature|bug|chore]
                [--external-id <id>] [--requester <who>] [--label <l>]…
  ticket create --file <payload.json|->   post a raw intake payload as it is
  bug report --title <t> --description <d> --repo <path|url> [--base-branch <b>] [--steps <s>]
             [--expected <e>] [--actual <a>] [--logs <file|->] [--environment <env>]
             [--reporter <who>] [--external-id <id>] [--label <l>]…
                                 report a bug: the triager classifies it, links duplicates, asks
                                 the reporter for what is missing, or starts a reproduction test
  bug report --file <report.json|->   post a raw bug report as it is
  ticket show <id>               state, triage, questions, duplicates and timeline
  ticket list [--state <s>]…     all tickets, oldest first, with their triage
  ticket wait <id> [--state <s>]… [--timeout 30m]
                                 follow a ticket until it rests (awaiting_human, pr_open, done,
                                 failed, cancelled, duplicate) or reaches one of the given states
  ticket cancel <id> [--reason <text>]
  ticket transcript <id>         the ticket's model exchanges as a mock-llm script (replays the run)
  answer <id> <text…> [--by <name>] [--budget <tokens>]
                                 answer a ticket parked in awaiting_human; --budget raises that
                                 ticket's token budget (above what it used; the text may be left out)
  pr list                        pull requests opened by nightshift
  pr show <ticket-id|repo#n|n>   a pull request with its summary and diff; pull request numbers are
                                 per repository, so a bare number only when one repository has it
  web [--port <n>] [--host <h>]  the web console: the board, tickets, answers and cancellations, live
                                 (default http://127.0.0.1:4280; NIGHTSHIFT_WEB_TOKEN allows changes)
  github [--port <n>]            the GitHub webhook receiver: reviews send work back, merge/close
                                 finish tickets, labelled issues become tickets (docs/github.md)
  nats config [--dir <dir>] [--listen host:port] [--store-dir /var/lib/nats]
              [--cluster <n> --routes host:port,…]
                                 write nats-server configurations: one nkey user per kind of process,
                                 each allowed only its role, and each kind's seed file (default dir:
                                 <data dir>/auth, which \`up\` uses; docs/security.md), and a server's
                                 configuration including them, or one per node of an n-node cluster
                                 (server name, routes, JetStream store and limits; docs/deploy.md)
  eval <case|dir>… [--script <name>] [--out <dir>] [--price-input <usd>] [--price-output <usd>]
                                 run evaluation cases through a stack of its own and judge each
                                 (tests first, red, green, no test touched, held-out tests pass);
                                 --script: each case's scripted model of that name (e.g. honest),
                                 else the configured model endpoint; prices per million tokens;
                                 --out writes eval.json and eval.md (docs/eval.md)
  mock-llm --script <file> [--port <n>] [--host 127.0.0.1]
                                 an OpenAI-compatible server answering from a script
                                 (shared/llm/SCRIPT.md); prints its base URL, runs until stopped

options for every command:
  --nats <url>        NATS server(s), comma-separated (env NATS_URL; default nats://127.0.0.1:4222);
                      credentials: NATS_NKEY, NATS_CREDS, NATS_USER/NATS_PASSWORD or NATS_TOKEN,
                      TLS: NATS_CA, NATS_CERT/NATS_KEY (default: the seeds \`up\` wrote, if any)
  --prefix <p>        subject prefix (env NIGHTSHIFT_PREFIX; default nightshift)
  --log-level <l>     fatal|error|warn|info|debug|trace|silent (env NIGHTSHIFT_LOG_LEVEL)
  --json              machine-readable output
  -h, --help          this help

${EXIT_HELP}`;
