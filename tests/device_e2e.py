#!/usr/bin/env python3
"""End-to-end checks of updelta-device against the scripted DM peer
(dm_peer.py): the whole FUMO flow, the daemon killed (SIGKILL) at every step
and restarted, failure results, bad notifications, alert retries.
Usage: device_e2e.py UPDELTA_DEVICE UPDELTA UPDELTA_SYNTH [SCENARIO...]
(UPD_E2E_KEEP=1 keeps the work directory with every device log.)"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dm_peer  # noqa: E402

DEVICE, UPD, SYNTH = sys.argv[1:4]
ONLY = set(sys.argv[4:])
CRASH_POINTS = ["exec", "download", "downloaded", "verify", "install", "installed", "rebooted", "verified",
                "reported"]
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", file=sys.stderr)
    return cond


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def run(*cmd):
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


class World:
    """Images, keys, packages, config, peer and daemon of one scenario."""

    def __init__(self, base, name, throttle=0.0, big=False, retry_ms=300, extra=""):
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir)
        self.name = name
        self.img = "big" if big else "os"    # big: a package over the agent's 4 MiB checkpoint
        d = self.dir
        shutil.copy(os.path.join(base, f"{self.img}.old"), f"{d}/os.img")
        shutil.copy(os.path.join(base, "modem.img"), f"{d}/modem.img")
        self.port = free_udp_port()
        self.peer = dm_peer.Peer("updelta-test-server", "srv-secret", "dev-user", "dev-secret",
                                 os.path.join(base, "pkg"), throttle)
        self.log = f"{d}/device.log"
        with open(f"{d}/device.conf", "w") as f:
            f.write(f"""# updelta-device test config ({name})
server_url = {self.peer.url}
server_id = updelta-test-server
server_password = srv-secret
user = dev-user
password = dev-secret
auth = md5
dev_id = IMEI:493005100592800
man = updelta
mod = e2e
lang = en-US
state_dir = {d}/state
log_file = {self.log}
keys_dir = {base}/keys
notify_port = {self.port}
retry_ms = {retry_ms}
rom.os.name = Operating System
rom.os.image = {d}/os.img
rom.os.version = 1.0
rom.modem.name = Modem
rom.modem.image = {d}/modem.img
rom.modem.version = 2.0
{extra}""")
        self.proc = None
        self.starts = 0
        self.env = {}     # more environment for the daemon

    def start(self, crash_at=None):
        env = dict(os.environ, **self.env)
        env.pop("UPD_DEVICE_CRASH_AT", None)
        if crash_at:
            env["UPD_DEVICE_CRASH_AT"] = crash_at
        err = open(f"{self.dir}/stderr.{self.starts}", "w")
        self.proc = subprocess.Popen([DEVICE, "-c", f"{self.dir}/device.conf"], env=env,
                                     stderr=err, stdout=subprocess.DEVNULL)
        self.starts += 1
        self.wait_log("started:", self.log_count("started:") + 1)

    def log_text(self):
        try:
            with open(self.log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_count(self, s):
        return self.log_text().count(s)

    def wait_log(self, s, count=1, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if self.log_count(s) >= count:
                return True
            if self.proc and self.proc.poll() is not None:
                return self.log_count(s) >= count
            time.sleep(0.02)
        return False

    def wait_alert(self, pred, restart=True, timeout=40):
        """Wait for an acknowledged alert matching PRED; restart the daemon
        (without a crash point) whenever it died."""
        end = time.time() + timeout
        while time.time() < end:
            with self.peer.lock:
                hit = [a for a in self.peer.alerts if pred(a) and a["answered"] in (200, 202)]
            if hit:
                return hit
            if self.proc.poll() is not None and restart:
                self.start()
            time.sleep(0.05)
        return []

    def settle(self, state, timeout=10, restart=True):
        """Wait until the os FUMO record reaches STATE with no alert pending,
        restarting the daemon whenever it died."""
        end = time.time() + timeout
        while time.time() < end:
            if restart and self.proc.poll() is not None:
                self.start()
            try:
                with open(f"{self.dir}/state/fumo-os.state") as f:
                    s = f.read()
            except FileNotFoundError:
                s = "state = 10\nalert = 0\n"     # never written: a fresh Idle record
            if f"state = {state}\n" in s and "alert = 0\n" in s:
                return True
            time.sleep(0.05)
        return False

    def stop(self):
        """SIGTERM: the daemon must exit 0 (under ASan also: no leak, no error report)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                check(self.proc.wait(10) == 0, f"{self.name}: daemon exits 0 on SIGTERM")
            except subprocess.TimeoutExpired:
                check(False, f"{self.name}: daemon stops on SIGTERM")
                self.proc.kill()
                self.proc.wait()
        self.peer.close()
        for i in range(self.starts):
            with open(f"{self.dir}/stderr.{i}") as f:
                check("Sanitizer" not in f.read(), f"{self.name}: no sanitizer report (run {i})")

    def same(self, a, b):
        with open(a, "rb") as x, open(b, "rb") as y:
            return x.read() == y.read()


def expect_success(w, base, corr, node="DownloadAndUpdate"):
    alerts = w.wait_alert(lambda a: a["correlator"] == corr)
    if not check(alerts, f"{w.name}: an acknowledged final alert with correlator {corr}"):
        print(w.log_text()[-3000:], file=sys.stderr)
        return
    a = alerts[-1]
    check(a["result"] == 200, f"{w.name}: result 200 (got {a['result']})")
    check(a["type"] == f"org.openmobilealliance.dm.firmwareupdate.{node.lower()}",
          f"{w.name}: Meta Type {node.lower()} (got {a['type']})")
    check(a["source"] == f"./FwUpdate/os/{node}", f"{w.name}: Source is the Exec'd node")
    check(a["format"] == "int" and a["mark"] is None, f"{w.name}: Format int, no Mark on success")
    check(w.same(f"{w.dir}/os.img", f"{base}/{w.img}.new"), f"{w.name}: os image is bit-exact the new one")
    check(w.same(f"{w.dir}/modem.img", f"{base}/modem.img"), f"{w.name}: modem image untouched")
    check(w.settle(100), f"{w.name}: State ends 100 with nothing pending")
    check(w.log_count("PROMPT: The update was installed successfully. Operating System is now version 1.1") >= 1,
          f"{w.name}: success prompt logged")
    check(w.peer.versions.get("os") == "1.1" and w.peer.versions.get("modem") == "2.0",
          f"{w.name}: version check reads os 1.1, modem 2.0 (got {w.peer.versions})")
    check(not w.peer.errors, f"{w.name}: peer saw no protocol errors {w.peer.errors}")
    check(not os.path.exists(f"{w.dir}/state/os.pkg"), f"{w.name}: staged package removed after 100")


def scenario_flow(base, name="flow", crash_at=None, throttle=0.0, big=False, extra=""):
    w = World(base, name, throttle, big, extra=extra)
    try:
        w.start(crash_at)
        corr = f"corr-{name}"
        w.peer.jobs = [("os", f"http://127.0.0.1:{w.peer.port}/pkg/{w.img}.upd", corr)]
        w.peer.notify(w.port, 0x2A)
        expect_success(w, base, corr)
        first = w.peer.sessions[0] if w.peer.sessions else {}
        check(first.get("init") == 1200, f"{name}: the notified session answers with Alert 1200")
        check(first.get("devinfo", {}).get("./DevInfo/DevId") == "IMEI:493005100592800",
              f"{name}: DevInfo sent in package 1")
        check(first.get("id") == "2A", f"{name}: SessionID is the notification's in hex (got {first.get('id')})")
        if crash_at:
            check(w.starts == 2, f"{name}: killed once at '{crash_at}' and restarted (starts {w.starts})")
            check(w.log_count(f"test crash point '{crash_at}'") == 1, f"{name}: crash point reached")
        else:
            check(re.search(r"os: download progress (\d+)/\1 bytes", w.log_text()),
                  f"{name}: the download agent reported progress up to the last byte")
        if crash_at == "download" and "stream" not in extra:
            check(w.log_count("resuming at byte") >= 1, f"{name}: download resumed, not restarted")
        if "stream" in extra:
            check(not os.path.exists(f"{w.dir}/state/os.pkg") and w.log_count("downloaded ") == 0,
                  f"{name}: no staging file in streaming mode")
            if crash_at:
                check(any(start > 0 for _, start, _ in w.peer.downloads),
                      f"{name}: the stream resumed with a Range request past the applied segments")
                check(w.log_count("resumed from the journal") == 1, f"{name}: the install resumed from the journal")
        if crash_at == "install":
            check(w.log_count("resumed from the journal") >= 1, f"{name}: install resumed from the journal")
        if crash_at == "reported":
            check(len(w.peer.alerts) >= 2, f"{name}: unacknowledged-looking alert sent again after restart")
    finally:
        w.stop()


def scenario_protocol(base, name, extra="", setup=None, verify=None):
    """The normal flow under a protocol variant (auth, HMAC, split messages)."""
    w = World(base, name, extra=extra)
    try:
        if setup:
            setup(w.peer)
        w.start()
        w.peer.jobs = [("os", f"http://127.0.0.1:{w.peer.port}/pkg/os.upd", f"c-{name}")]
        w.peer.notify(w.port, 0x55)
        expect_success(w, base, f"c-{name}")
        if verify:
            verify(w)
    finally:
        w.stop()


def scenario_wrong_password(base):
    w = World(base, "wrong-password", extra="password = not-the-secret\n")
    try:
        w.start()
        w.peer.jobs = [("os", f"http://127.0.0.1:{w.peer.port}/pkg/os.upd", "no")]
        w.peer.notify(w.port, 0x99)
        check(w.wait_log("session done"), "wrong-password: session over")
        check(w.log_count("ended: UPD_E_DM_AUTH") == 1, "wrong-password: ends with UPD_E_DM_AUTH")
        s = w.peer.sessions[0] if w.peer.sessions else {}
        check(s.get("auth_failures") == 3, f"wrong-password: package 1 sent 3 times ({s.get('auth_failures')})")
        check(w.settle(10, restart=False) and w.proc.poll() is None, "wrong-password: nothing ran, daemon alive")
    finally:
        w.stop()


def hmac_setup(peer):
    peer.hmac_mode = True
    peer.bad_mac_once = True


def scenario_abort(base):
    w = World(base, "abort")
    try:
        w.peer.abort_at = 1
        w.start()
        w.peer.jobs = [("os", f"http://127.0.0.1:{w.peer.port}/pkg/os.upd", "never")]
        w.peer.notify(w.port, 0x66)
        check(w.wait_log("server aborted the session (1223)"), "abort: the device ends the session on 1223")
        check(w.wait_log("session done"), "abort: session over")
        time.sleep(0.3)
        s = w.peer.sessions[0] if w.peer.sessions else {}
        check(s.get("aborted") and "os" not in w.peer.versions, "abort: nothing after the abort")
        check(w.proc.poll() is None, "abort: daemon still running")
        check(w.settle(10, restart=False), "abort: State stays 10")
    finally:
        w.stop()


def scenario_pkgdata(base, name, declared_delta, interrupt=False):
    """The package pushed in-band: Replace Update/PkgData in MoreData chunks, Exec Update."""
    w = World(base, name)
    try:
        data = open(f"{base}/pkg/os.upd", "rb").read()
        w.peer.pkgdata = ("os", data, 30000, len(data) + declared_delta, f"c-{name}")
        w.peer.interrupt_chunks = interrupt
        w.start()
        w.peer.notify(w.port, 0x44)
        if interrupt:
            check(w.wait_log("session done"), f"{name}: session over")
            s = w.peer.sessions[0] if w.peer.sessions else {}
            check(s.get("no_end_of_data") == "./FwUpdate/os/Update/PkgData",
                  f"{name}: the interrupted object reported with Alert 1225 ({s.get('no_end_of_data')})")
            check(("Exec", 405) in [(x[0], x[2]) for x in s.get("statuses", [])],
                  f"{name}: Exec Update without the whole package refused 405")
            check(w.settle(10, restart=False), f"{name}: State stays 10")
        elif declared_delta == 0:
            expect_success(w, base, f"c-{name}", node="Update")
            st = [x for s in w.peer.sessions for x in s["statuses"] if x[0] == "Replace"]
            check(sum(1 for x in st if x[2] == 213) >= 20 and st[-1][2] == 200,
                  f"{name}: chunks answered 213, the last 200")
        else:
            check(w.wait_log("session done"), f"{name}: session over")
            st = [x for s in w.peer.sessions for x in s["statuses"] if x[0] in ("Replace", "Exec")]
            check(("Replace", 424) in [(x[0], x[2]) for x in st], f"{name}: size mismatch answered 424")
            check(("Exec", 405) in [(x[0], x[2]) for x in st], f"{name}: Exec Update without a package refused 405")
            check(w.settle(10, restart=False), f"{name}: State stays 10")
            check(w.same(f"{w.dir}/os.img", f"{base}/os.old"), f"{name}: image unchanged")
    finally:
        w.stop()


def scenario_external_kill(base):
    """kill -9 from outside in the middle of a throttled download."""
    w = World(base, "external-kill", throttle=0.004, big=True)
    try:
        w.start()
        w.peer.jobs = [("os", f"http://127.0.0.1:{w.peer.port}/pkg/big.upd", "ext")]
        w.peer.notify(w.port, 0x101)
        part = f"{w.dir}/state/os.pkg.part"
        end = time.time() + 20
        while time.time() < end and not (os.path.exists(part) and os.path.getsize(part) > 4500000):
            time.sleep(0.01)
        check(os.path.exists(part), "external-kill: download under way")
        check(any(0 < int(d) < int(t) for d, t in re.findall(r"os: download progress (\d+)/(\d+) bytes",
                                                              w.log_text())),
              "external-kill: the download agent reported progress part-way")
        w.proc.send_signal(signal.SIGKILL)
        w.proc.wait()
        w.start()
        expect_success(w, base, "ext")
        check(w.log_count("resuming at byte") >= 1, "external-kill: download resumed, not restarted")
        check(any(start > 0 for _, start, _ in w.peer.downloads), "external-kill: a Range request resumed it")
    finally:
        w.stop()


def scenario_failure(base, name, url_name, result, final_state, env=None, logged=None):
    # retries only after a minute: the failure must be reported at once
    w = World(base, name, retry_ms=60000)
    w.env = env or {}
    try:
        w.start()
        w.peer.jobs = [("os", f"http://127.0.0.1:{w.peer.port}/pkg/{url_name}", f"c-{name}")]
        w.peer.notify(w.port, 0x77)
        alerts = w.wait_alert(lambda a: a["correlator"] == f"c-{name}", restart=False, timeout=15)
        if check(alerts, f"{name}: failure reported in a final alert"):  # at once: no retry wait
            a = alerts[-1]
            check(a["result"] == result, f"{name}: result {result} (got {a['result']})")
            check(a["mark"] == "critical", f"{name}: failure marked critical")
        check(w.settle(final_state, restart=False), f"{name}: State ends {final_state}")
        check(w.same(f"{w.dir}/os.img", f"{base}/os.old"), f"{name}: image unchanged")
        check(w.peer.versions.get("os") == "1.0", f"{name}: version still 1.0")
        for line in logged or []:
            check(w.log_count(line) >= 1, f"{name}: the log says '{line}'")
    finally:
        w.stop()


def swap_env(base, name, at_open, swap_in):
    """The daemon's environment to have the staged package rewritten with
    SWAP_IN just before its AT_OPEN-th fopen (tests/swap_file.c)."""
    return {"LD_PRELOAD": os.environ["UPD_SWAP_SO"], "UPD_SWAP_AT_OPEN": str(at_open),
            "UPD_SWAP_PATH": f"{base}/{name}/state/os.pkg", "UPD_SWAP_FROM": f"{base}/{swap_in}",
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}


def scenario_bad_notifications(base):
    w = World(base, "bad-notify")
    try:
        w.start()
        w.peer.notify(w.port, 0x10, password="wrong")
        w.peer.notify(w.port, 0x11, server_id="intruder")
        good = dm_peer.notification("updelta-test-server", "srv-secret", b"", 0x12)
        w.peer.send_raw(w.port, good[:20])
        bad_version = dm_peer.notification("updelta-test-server", "srv-secret", b"", 0x13, version=99)
        w.peer.send_raw(w.port, bad_version)
        check(w.wait_log("notification rejected", 4), "bad-notify: four bad notifications rejected")
        text = w.log_text()
        check("bad digest" in text and "unknown server id" in text and "malformed trigger" in text,
              "bad-notify: each rejection says why")
        time.sleep(0.3)
        check(not w.peer.sessions, "bad-notify: no session started")
        w.peer.notify(w.port, 0x14)
        check(w.wait_log("notification accepted"), "bad-notify: a good one is accepted")
        check(w.wait_log("session done", 1), "bad-notify: one session ran")
        w.peer.notify(w.port, 0x14)   # with the nonce as rotated in that session
        check(w.wait_log("again: ignored"), "bad-notify: the same session id is not answered twice")
        time.sleep(0.3)
        check(len(w.peer.sessions) == 1, f"bad-notify: exactly one session (got {len(w.peer.sessions)})")
    finally:
        w.stop()


def scenario_bad_config(base):
    d = os.path.join(base, "bad-config")
    os.makedirs(d)
    cases = {"unknown key": "server_url = http://127.0.0.1:1/dm\nbogus = 1\n",
             "no equals": "server_url\n",
             "bad flag": "hmac = yes\n",
             "missing keys": "server_url = http://127.0.0.1:1/dm\n"}
    for what, text in cases.items():
        with open(f"{d}/c.conf", "w") as f:
            f.write(text)
        r = subprocess.run([DEVICE, "-c", f"{d}/c.conf"], capture_output=True, text=True, timeout=10)
        check(r.returncode == 1 and "config " in r.stderr, f"bad-config: {what} refused with a message")
    r = subprocess.run([DEVICE, "-c", f"{d}/c.conf"], capture_output=True, text=True, timeout=10)
    check("is required" in r.stderr, "bad-config: names the missing key")


def scenario_alert_retry(base):
    w = World(base, "alert-retry")
    try:
        w.peer.ack_codes = [500]
        w.start()
        w.peer.jobs = [("os", f"http://127.0.0.1:{w.peer.port}/pkg/os.upd", "retry")]
        w.peer.notify(w.port, 0x33)
        alerts = w.wait_alert(lambda a: a["correlator"] == "retry", restart=False)
        check(alerts, "alert-retry: acknowledged in the end")
        check([a["answered"] for a in w.peer.alerts] == [500, 200],
              f"alert-retry: refused once, sent again, then accepted ({[a['answered'] for a in w.peer.alerts]})")
        check(w.settle(100, restart=False), "alert-retry: State ends 100")
    finally:
        w.stop()


def main():
    base = tempfile.mkdtemp(prefix="upd-device-")
    try:
        os.makedirs(f"{base}/keys")
        os.makedirs(f"{base}/pkg")
        run(UPD, "keygen", f"{base}/vendor")
        run(UPD, "keygen", f"{base}/rogue")
        shutil.copy(f"{base}/vendor.pub", f"{base}/keys/vendor.pub")
        run(SYNTH, "exe-like", "7", "6M", f"{base}/os.old", f"{base}/os.new")
        # sparse diffs (format v2) made this pair one 2 MiB segment; new text
        # makes its package several again (crashes and resumes land between
        # segments) at about its old size
        with open(f"{base}/os.new", "ab") as f:
            f.write(b"".join(b"release notes line %07d\n" % i for i in range(160000)))
        run(SYNTH, "exe-like", "8", "1M", f"{base}/modem.img", f"{base}/modem.new")
        run(UPD, "diff", "--sign", f"{base}/vendor.key", f"{base}/os.old", f"{base}/os.new", "-o",
            f"{base}/pkg/os.upd", "-q", "--package-id", "os", "--from", "1.0", "--to", "1.1",
            "--segment-size", "2M")
        with open(f"{base}/big.old", "wb") as f:
            f.write(os.urandom(4096))
        with open(f"{base}/big.new", "wb") as f:
            f.write(os.urandom(6500000))
        run(UPD, "diff", "--sign", f"{base}/vendor.key", f"{base}/big.old", f"{base}/big.new", "-o",
            f"{base}/pkg/big.upd", "-q", "--level", "1", "--segment-size", "2M", "--package-id", "os",
            "--from", "1.0", "--to", "1.1")
        data = bytearray(open(f"{base}/pkg/os.upd", "rb").read())
        data[-100] ^= 0xFF      # in the last segment: found only after earlier segments
        with open(f"{base}/pkg/corrupt.upd", "wb") as f:
            f.write(data)
        run(UPD, "diff", "--sign", f"{base}/vendor.key", f"{base}/os.old", f"{base}/os.new", "-o",
            f"{base}/os-level3.upd", "-q", "--package-id", "os", "--from", "1.0", "--to", "1.1",
            "--segment-size", "2M", "--level", "3")
        run(UPD, "diff", "--sign", f"{base}/vendor.key", f"{base}/os.old", f"{base}/os.new", "-o",
            f"{base}/pkg/os-one.upd", "-q", "--package-id", "os", "--from", "1.0", "--to", "1.1",
            "--segment-size", "6M")
        run(UPD, "diff", "--sign", f"{base}/rogue.key", f"{base}/os.old", f"{base}/os.new", "-o",
            f"{base}/pkg/rogue.upd", "-q", "--package-id", "os", "--from", "1.0", "--to", "1.1")
        run(UPD, "diff", "--sign", f"{base}/vendor.key", f"{base}/modem.img", f"{base}/modem.new", "-o",
            f"{base}/pkg/wrongbase.upd", "-q", "--package-id", "os", "--from", "1.0", "--to", "1.1")
        scen = {
            "flow": lambda: scenario_flow(base),
            "bad-notify": lambda: scenario_bad_notifications(base),
            "dl-404": lambda: scenario_failure(base, "dl-404", "missing.upd", 411, 20),
            "bad-signature": lambda: scenario_failure(base, "bad-signature", "rogue.upd", 404, 80),
            "wrong-base": lambda: scenario_failure(base, "wrong-base", "wrongbase.upd", 403, 80),
            "corrupt": lambda: scenario_failure(base, "corrupt", "corrupt.upd", 402, 80),
            # the staged file rewritten, between the dry run and the install,
            # with another valid package for the same base: only the package
            # the dry run passed may be installed
            "rewritten": lambda: scenario_failure(
                base, "rewritten", "os.upd", 402, 80, env=swap_env(base, "rewritten", 2, "os-level3.upd"),
                logged=["os: verifying", "UPD_E_PKG_CHANGED"]),
            # ... and a one-segment package (no dry run: its prefix checked),
            # rewritten before the install with one of several segments
            "rewritten-one": lambda: scenario_failure(
                base, "rewritten-one", "os-one.upd", 402, 80,
                env=swap_env(base, "rewritten-one", 1, "pkg/os.upd"),
                logged=["os.pkg has one segment", "UPD_E_PKG_CHANGED"]),
            "alert-retry": lambda: scenario_alert_retry(base),
            "bad-config": lambda: scenario_bad_config(base),
            "external-kill": lambda: scenario_external_kill(base),
            "auth-basic": lambda: scenario_protocol(base, "auth-basic", "auth = basic\n"),
            "challenge": lambda: scenario_protocol(
                base, "challenge", setup=lambda p: setattr(p, "client_nonce", os.urandom(16)),
                verify=lambda w: check(w.peer.sessions[0].get("auth_failures") == 1,
                                       "challenge: first Cred refused, package 1 sent again")),
            "hmac": lambda: scenario_protocol(
                base, "hmac", "hmac = 1\n", setup=hmac_setup,
                verify=lambda w: (
                    check(w.peer.hmac_seen >= 6, f"hmac: every message MACed ({w.peer.hmac_seen})"),
                    check(w.log_count("server message MAC refused") == 1,
                          "hmac: a reply with a wrong MAC refused, the next accepted"))),
            "split": lambda: scenario_protocol(
                base, "split", setup=lambda p: setattr(p, "max_msg", 1300),
                verify=lambda w: check(any(s.get("device_split") for s in w.peer.sessions),
                                       "split: the device split a message at our MaxMsgSize")),
            "server-multi": lambda: scenario_protocol(
                base, "server-multi", setup=lambda p: setattr(p, "server_multi", True),
                verify=lambda w: check(w.peer.sessions[0].get("next_message_alerts", 0) >= 1,
                                       "server-multi: the device asked for our next message (1222)")),
            "wbxml": lambda: scenario_protocol(
                base, "wbxml", "encoding = wbxml\n",
                verify=lambda w: check(w.peer.wbxml_messages >= 6,
                                       f"wbxml: the sessions ran in WBXML ({w.peer.wbxml_messages})")),
            "abort": lambda: scenario_abort(base),
            "wrong-password": lambda: scenario_wrong_password(base),
            "pkgdata": lambda: scenario_pkgdata(base, "pkgdata", 0),
            "pkgdata-size": lambda: scenario_pkgdata(base, "pkgdata-size", 1),
            "pkgdata-cut": lambda: scenario_pkgdata(base, "pkgdata-cut", 0, interrupt=True),
        }
        scen["stream"] = lambda: scenario_flow(base, "stream", extra="stream = 1\n")
        scen["crash-stream"] = lambda: scenario_flow(base, "crash-stream", "download", throttle=0.004,
                                                     big=True, extra="stream = 1\n")
        for cp in CRASH_POINTS:
            scen[f"crash-{cp}"] = (lambda cp=cp: scenario_flow(
                base, f"crash-{cp}", cp, throttle=0.004 if cp == "download" else 0.0,
                big=cp == "download"))
        for name, fn in scen.items():
            if ONLY and name not in ONLY:
                continue
            t = time.time()
            n = len(failures)
            fn()
            print(f"{'ok  ' if len(failures) == n else 'FAIL'} {name} ({time.time() - t:.1f}s)")
    finally:
        if failures or os.environ.get("UPD_E2E_KEEP"):
            print(f"{len(failures)} failures; work dir kept: {base}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
    sys.exit(1 if failures else 0)


main()
