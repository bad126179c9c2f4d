#!/usr/bin/env bash
# A mailkeep process holds the account's password in memory from the login on. Started with core
# dumps allowed (ulimit -c unlimited, core_pattern "core" or a coredump handler), a crash or a
# SIGQUIT wrote it to disk in a core file readable by whoever reads the working directory. Each
# mailkeep process, an account process of --jobs too, runs with RLIMIT_CORE 0 and is not dumpable:
# killed by SIGQUIT while its login hangs (the password sent), it leaves no core, none with the
# password, and its wait status says no core was dumped.
. "$(dirname "$0")/lib.sh"
t_begin
PW="core-secret-$$-pw"
_SECRETS+=("$PW")
(umask 077 && echo "$PW" >"$T/pass")

hm_up login-stall hm.log

for jobs in 1 2; do
	cfg=$T/j$jobs.yaml
	{
		echo "accounts:"
		for a in one two; do
			acct_yaml "$a" root="$T/mail" port="$HM_PORT" tls=none ca_file=- user="$a$jobs" \
				password_file="$T/pass" timeout=30
		done
	} | cfg_write "$cfg"
	mkdir -p "$T/cwd$jobs"
	CHECKS=$((CHECKS + 1))
	got=$(python3 - "$MAILKEEP" "$cfg" "$jobs" "$T/hm.log" "$T/cwd$jobs" <<'PY'
import os, resource, signal, subprocess, sys, time
mk, cfg, jobs, log, cwd = sys.argv[1:6]
def unlimited():
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
p = subprocess.Popen([mk, "-c", cfg, "-j", jobs, "sync"], cwd=cwd, preexec_fn=unlimited,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
# the login (with the password) has been sent: the server logs its command line
for _ in range(200):
    if any(l.startswith("S") and "AUTHENTICATE received" in l for l in open(log)) and \
       any(("AUTHENTICATE" in l or "LOGIN" in l) for l in open(log) if l.startswith("C")):
        break
    time.sleep(0.05)
time.sleep(0.3)
# the process holding the password: the account process under --jobs, else mailkeep itself
victim = p.pid
if jobs != "1":
    kids = open(f"/proc/{p.pid}/task/{p.pid}/children").read().split()
    if not kids:
        print("no account process found"); p.kill(); sys.exit(0)
    victim = int(kids[0])
limit = [l for l in open(f"/proc/{victim}/limits") if l.startswith("Max core file size")][0].split()
os.kill(victim, signal.SIGQUIT)
if victim == p.pid:
    _, status = os.waitpid(p.pid, 0)
    dumped = os.WIFSIGNALED(status) and os.WCOREDUMP(status)
else:
    time.sleep(1)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    dumped = None
cores = [f for f in os.listdir(cwd) if f.startswith("core")]
problems = []
if limit[4] != "0":
    problems.append(f"RLIMIT_CORE soft limit {limit[4]}")
if dumped:
    problems.append("the wait status says a core was dumped")
if cores:
    problems.append(f"core files {cores}")
print("; ".join(problems) or "ok")
PY
)
	[ "$got" = ok ] || fail "--jobs $jobs, a mailkeep process killed by SIGQUIT after its login: $got"
	: >"$T/hm.log" # the next round waits for its own login
done
t_pass
