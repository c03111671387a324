// Runs a command (wrangler dev) as its child, both in this process's own process group, and takes the whole
// group down when the parent that started us goes away — even if the parent was killed with SIGKILL and
// could clean nothing up. The parent holds the write end of our stdin; the kernel closes it when the parent
// dies, however it dies, and we see end-of-file. Without this, a killed `npm start` left wrangler and
// workerd running, holding the port.
//
//   node scripts/guardian.mjs <command> [args...]      (spawned with detached: true and stdin: "pipe")
import { spawn } from "node:child_process";

const [command, ...args] = process.argv.slice(2);
const child = spawn(command, args, { stdio: ["ignore", "inherit", "inherit"] });

const group = -process.pid;
let stopping = false;

/** SIGTERM to the group (wrangler stops workerd), then SIGKILL to whatever is left, us included. */
function stopGroup() {
  if (stopping) return;
  stopping = true;
  try {
    process.kill(group, "SIGTERM");
  } catch {}
  setTimeout(() => killGroup(), 3_000);
}

function killGroup() {
  try {
    process.kill(group, "SIGKILL");
  } catch {}
  process.exit(1);
}

// The group's SIGTERM reaches us too: it starts the same stop instead of ending us before the others.
for (const signal of ["SIGTERM", "SIGINT", "SIGHUP"]) process.on(signal, stopGroup);
process.stdin.on("end", stopGroup);
process.stdin.on("error", stopGroup);
process.stdin.resume();

child.on("error", (error) => {
  console.error(`guardian: could not start ${command}: ${error.message}`);
  process.exit(1);
});
// The command ended: nothing it started (workerd) may outlive it.
child.on("exit", (code) => {
  if (!stopping) process.exitCode = code ?? 1;
  killGroup();
});
