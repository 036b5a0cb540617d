/**
 * `ksmbd-cli` (run as `deno task cli <command> ...`): command-line parsing only; the work is done by
 * cli/adduser.ts, cli/addshare.ts and cli/control.ts.
 *
 * Exit status: 0 success, 1 failure, 2 bad usage (unknown option or command, missing argument).
 *
 * @module
 */

// The lead may move this to deno.json "imports" (commander: npm:commander@12.1.0).
// deno-lint-ignore no-import-prefix
import { Command, CommanderError } from "npm:commander@12.1.0";
import { DEFAULT_CONFIG_PATH, DEFAULT_PWDDB_PATH, shareKeyHelp } from "../core/config/keys.ts";
import type { ControlRequest } from "../core/config/control_protocol.ts";
import { DEBUG_COMPONENTS } from "../core/config/control_protocol.ts";
import { KSMBD_DENO_VERSION } from "../core/config/version.ts";
import { CliError, consoleOutput, EXIT_USAGE } from "./common.ts";
import { type AddUserMode, runAddUser } from "./adduser.ts";
import { type AddShareMode, runAddShare } from "./addshare.ts";
import { runControl } from "./control.ts";
import { promptNewPassword } from "./prompt.ts";

interface ModeFlags {
  add?: boolean;
  update?: boolean;
  delete?: boolean;
}

function modeOf(flags: ModeFlags): "auto" | "add" | "update" | "delete" {
  const set = (["add", "update", "delete"] as const).filter((k) => flags[k]);
  if (set.length > 1) throw new CliError(`options --${set.join(" and --")} cannot be combined`, EXIT_USAGE);
  return set[0] ?? "auto";
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** Builds the commander program (exported for tests of the option set). */
export function buildProgram(): Command {
  const program = new Command("ksmbd-cli")
    .description("Manage ksmbd-deno users, shares and the running server (ksmbd-tools compatible)")
    .version(KSMBD_DENO_VERSION, "-V, --version", "print the version and exit")
    .helpOption("-h, --help", "show help")
    .enablePositionalOptions()
    .exitOverride()
    .showSuggestionAfterError(true);

  program
    .command("adduser")
    .description("add, update or delete a user of ksmbdpwd.db (no -a/-u/-d: add or update)")
    .argument("<user>", "user name (UTF-8, 1..47 bytes, no ':')")
    .option("-C, --config <file>", "configuration file", DEFAULT_CONFIG_PATH)
    .option("-P, --pwddb <file>", "user database", DEFAULT_PWDDB_PATH)
    .option("-a, --add", "add a user; fail if it exists")
    .option("-u, --update", "update a user's password; fail if it does not exist")
    .option("-d, --delete", "delete a user; refused while the configuration uses it")
    .option("-p, --password <pwd>", "password (0..128 bytes); prompted for when absent")
    .option("--state-dir <dir>", "state directory of a running server to notify (default: from the config)")
    .option("-v, --verbose", "verbose output")
    .allowExcessArguments(false)
    .action(async (user: string, o: ModeFlags & Record<string, string | boolean | undefined>) => {
      const mode: AddUserMode = modeOf(o);
      if (mode === "delete" && o.password !== undefined) {
        throw new CliError("-p cannot be combined with --delete", EXIT_USAGE);
      }
      await runAddUser({
        configPath: o.config as string,
        pwddbPath: o.pwddb as string,
        mode,
        user,
        password: o.password as string | undefined,
        readPassword: promptNewPassword,
        stateDir: o.stateDir as string | undefined,
        verbose: Boolean(o.verbose),
        output: consoleOutput,
      });
    });

  program
    .command("addshare")
    .description("add, update or delete a share of ksmbd.conf (no -a/-u/-d: add or update)")
    .argument("<share>", "share name (UTF-8, 1..63 bytes, no '[' or ']')")
    .option("-C, --config <file>", "configuration file", DEFAULT_CONFIG_PATH)
    .option("-P, --pwddb <file>", "user database (accepted for compatibility)", DEFAULT_PWDDB_PATH)
    .option("-a, --add", "add a share; fail if it exists")
    .option("-u, --update", "update a share; fail if it does not exist")
    .option("-d, --delete", "delete a share")
    .option(
      "-o, --option <key=value>",
      'share parameter, e.g. -o "path = /srv/data" (repeatable)',
      collect,
      [],
    )
    .option("--state-dir <dir>", "state directory of a running server to notify (default: from the config)")
    .option("-v, --verbose", "verbose output")
    .addHelpText("after", shareKeyHelp())
    .allowExcessArguments(false)
    .action(
      async (
        share: string,
        o: ModeFlags & { config: string; option: string[]; stateDir?: string; verbose?: boolean },
      ) => {
        const mode: AddShareMode = modeOf(o);
        await runAddShare({
          configPath: o.config,
          mode,
          share,
          options: o.option,
          stateDir: o.stateDir,
          verbose: Boolean(o.verbose),
          output: consoleOutput,
        });
      },
    );

  program
    .command("control")
    .description("control a running ksmbd-deno server")
    .option("-s, --shutdown", "shut the server down")
    .option("-r, --reload", "reload ksmbd.conf and ksmbdpwd.db")
    .option("-l, --list", "list the shares")
    .option("-d, --debug <component>", `toggle debug output of ${DEBUG_COMPONENTS.join("|")}`)
    .option("-c, --version", "print the version (works without a server)")
    .option("--status", "print the server status: sessions, tree connects, open files, locks, counters")
    .option("--json", "with --status: print the status as one JSON object (docs/operations.md)")
    .option("--restart-module", "replace the accounts/RPC sandbox with a fresh one (as after a crash)")
    .option("-C, --config <file>", "configuration file (for its state directory)", DEFAULT_CONFIG_PATH)
    .option("--state-dir <dir>", "state directory holding control.sock (overrides the config)")
    .option("-v, --verbose", "verbose output")
    .allowExcessArguments(false)
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const reqs: ControlRequest[] = [];
      if (o.shutdown) reqs.push({ cmd: "shutdown" });
      if (o.reload) reqs.push({ cmd: "reload" });
      if (o.list) reqs.push({ cmd: "list" });
      if (o.debug !== undefined) reqs.push({ cmd: "debug", arg: o.debug as string });
      if (o.version) reqs.push({ cmd: "version" });
      if (o.status) reqs.push(o.json ? { cmd: "status", arg: "json" } : { cmd: "status" });
      if (o.restartModule) reqs.push({ cmd: "restart-module" });
      if (o.json && !o.status) throw new CliError("--json goes with --status", EXIT_USAGE);
      if (reqs.length === 0) {
        throw new CliError(
          "control needs one of -s/--shutdown, -r/--reload, -l/--list, -d/--debug, -c/--version, --status, " +
            "--restart-module",
          EXIT_USAGE,
        );
      }
      if (reqs.length > 1) throw new CliError("give only one control action at a time", EXIT_USAGE);
      await runControl({
        configPath: o.config as string,
        stateDir: o.stateDir as string | undefined,
        request: reqs[0],
        verbose: Boolean(o.verbose),
        output: consoleOutput,
      });
    });

  return program;
}

/** Runs the CLI with `args` (without the program name) and returns the exit status. */
export async function main(args: readonly string[]): Promise<number> {
  const program = buildProgram();
  if (args.length === 0) {
    program.outputHelp({ error: true });
    return EXIT_USAGE;
  }
  try {
    await program.parseAsync([...args], { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (
        err.code === "commander.helpDisplayed" || err.code === "commander.version" ||
        err.code === "commander.help"
      ) {
        return err.code === "commander.help" ? EXIT_USAGE : 0;
      }
      // commander has already printed "error: ..." naming the option or command.
      return EXIT_USAGE;
    }
    if (err instanceof CliError) {
      console.error(`ksmbd-cli: ${err.message}`);
      return err.exitCode;
    }
    console.error(`ksmbd-cli: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
