#!/usr/bin/env python3
"""A small scripted OMA DM 1.2 server peer for the updelta-device end-to-end
test (stdlib only).  It is an independent implementation of just enough of
the protocol to drive a device through the FUMO flow: package #0 over UDP
(digest computed here from the spec formula), SyncML XML sessions with
auth-md5 both ways, Get of the ROMPackage versions, Replace PkgURL, Exec
DownloadAndUpdate with a Correlator, acceptance of the final 1226 alert; and
the download server (HEAD, Range GET, optional throttling).

Used as a module by device_e2e.py."""

import base64
import hashlib
import http.server
import os
import re
import socket
import struct
import subprocess
import tempfile
import threading
import xml.etree.ElementTree as ET

NS = "SYNCML:SYNCML1.2"


def b64md5(data):
    return base64.b64encode(hashlib.md5(data).digest())


def md5_cred(user, password, nonce):
    """auth-md5: B64(MD5(B64(MD5(user:password)) ":" nonce))."""
    return base64.b64encode(hashlib.md5(b64md5(f"{user}:{password}".encode()) + b":" + nonce).digest()).decode()


def notification(server_id, password, nonce, session_id, ui_mode=1, version=11):
    """Package #0 (OMA DM Notification 1.2): digest + bit-packed trigger."""
    sid = server_id.encode()
    word = (version << 54) | (ui_mode << 52) | (1 << 51) | (session_id << 8) | len(sid)
    trigger = struct.pack(">Q", word) + sid
    digest = hashlib.md5(b64md5(f"{server_id}:{password}".encode()) + b":" + nonce + b":" +
                         b64md5(trigger)).digest()
    return digest + trigger


DOCTYPE = (b'<?xml version="1.0"?>\n<!DOCTYPE SyncML PUBLIC "-//SYNCML//DTD SyncML 1.2//EN" '
           b'"http://www.openmobilealliance.org/tech/DTD/OMA-TS-SyncML_RepPro_DTD-V1_2.dtd">\n')


def wbxml_tool(tool, data, *args):
    """Convert with libwbxml's command-line tools (an independent WBXML codec)."""
    with tempfile.TemporaryDirectory() as d:
        src, dst = os.path.join(d, "in"), os.path.join(d, "out")
        with open(src, "wb") as f:
            f.write(data)
        subprocess.run([tool, *args, "-o", dst, src], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        with open(dst, "rb") as f:
            return f.read()


def strip_ns(e):
    for el in e.iter():
        if "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return e


def text(e, path, default=None):
    x = e.find(path)
    return x.text if x is not None and x.text is not None else default


def esc(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Peer:
    """The DM server and download server on 127.0.0.1, scripted per test."""

    def __init__(self, server_id, server_pass, user, password, pkg_dir, throttle=0.0):
        self.server_id, self.server_pass = server_id, server_pass
        self.user, self.password = user, password
        self.pkg_dir = pkg_dir
        self.throttle = throttle           # seconds of sleep per 16 KiB served
        self.client_nonce = b""            # what the device must hash its Cred with
        self.server_nonce = b""            # what we hash our Cred with (device-issued)
        self.lock = threading.Lock()
        self.sessions = []                 # one dict per session seen
        self.alerts = []                   # generic alerts received
        self.versions = {}                 # ROMPackage versions read, by id
        self.jobs = []                     # (rom id, url, correlator) to start on the next 1200 session
        self.ack_codes = []                # Status codes to answer the next 1226 alerts with (then 200)
        self.errors = []                   # protocol violations seen
        self.downloads = []                # (path, range) served
        self.state = {}                    # per-session script position
        self.max_msg = 20000               # our MaxMsgSize (the device must split above it)
        self.server_multi = False          # send package 2 in two messages (Alert 1222 asked)
        self.abort_at = None               # script step at which to send Alert 1223
        self.pkgdata = None                # (rom id, bytes, chunk, declared size, correlator): push in-band
        self.hmac_seen = 0                 # messages that carried a valid x-syncml-hmac
        self.wbxml_messages = 0            # messages received in WBXML
        self.interrupt_chunks = False      # stop an in-band package after its first chunk
        self.hmac_mode = False             # authenticate our replies by x-syncml-hmac, not Cred
        self.bad_mac_once = False          # send one reply with a wrong MAC
        self.http = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.http.daemon_threads = True
        self.port = self.http.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/dm"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self):
        self.http.shutdown()
        self.http.server_close()

    def notify(self, udp_port, session_id, **kw):
        pkt = notification(kw.pop("server_id", self.server_id), kw.pop("password", self.server_pass),
                           kw.pop("nonce", self.server_nonce), session_id, **kw)
        self.send_raw(udp_port, pkt)

    @staticmethod
    def send_raw(udp_port, pkt):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(pkt, ("127.0.0.1", udp_port))
        s.close()

    # ---- SyncML ---------------------------------------------------------------

    def _reply(self, sess_id, msg_id, cmds, final=True, cred=True):
        hdr = (f"<SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto><SessionID>{sess_id}</SessionID>"
               f"<MsgID>{msg_id}</MsgID><Target><LocURI>{esc(self.dev_id)}</LocURI></Target>"
               f"<Source><LocURI>{esc(self.url)}</LocURI><LocName>{esc(self.server_id)}</LocName></Source>")
        if cred and not self.hmac_mode:
            c = md5_cred(self.server_id, self.server_pass, self.server_nonce)
            hdr += ('<Cred><Meta><Format xmlns="syncml:metinf">b64</Format>'
                    '<Type xmlns="syncml:metinf">syncml:auth-md5</Type></Meta>'
                    f"<Data>{c}</Data></Cred>")
        hdr += f'<Meta><MaxMsgSize xmlns="syncml:metinf">{self.max_msg}</MaxMsgSize></Meta></SyncHdr>'
        body = "".join(cmds) + ("<Final/>" if final else "")
        return f'<SyncML xmlns="{NS}">{hdr}<SyncBody>{body}</SyncBody></SyncML>'.encode()

    @staticmethod
    def status(cmd_id, msg_ref, cmd_ref, cmd, code, chal_nonce=None, target=None, source=None):
        s = (f"<Status><CmdID>{cmd_id}</CmdID><MsgRef>{msg_ref}</MsgRef><CmdRef>{cmd_ref}</CmdRef>"
             f"<Cmd>{cmd}</Cmd>")
        if target:
            s += f"<TargetRef>{esc(target)}</TargetRef>"
        if source:
            s += f"<SourceRef>{esc(source)}</SourceRef>"
        if chal_nonce is not None:
            s += ('<Chal><Meta><Type xmlns="syncml:metinf">syncml:auth-md5</Type>'
                  '<Format xmlns="syncml:metinf">b64</Format>'
                  f'<NextNonce xmlns="syncml:metinf">{base64.b64encode(chal_nonce).decode()}</NextNonce>'
                  "</Meta></Chal>")
        return s + f"<Data>{code}</Data></Status>"

    def hmac_ok(self, header, body):
        """x-syncml-hmac: algorithm=MD5, username="u", mac=B64(MD5(H(u:p) ":" nonce ":" H(body)))."""
        if not header:
            return False
        f = dict(re.findall(r'(\w+)\s*=\s*"?([^",]*)"?', header))
        want = base64.b64encode(hashlib.md5(b64md5(f"{self.user}:{self.password}".encode()) + b":" +
                                            self.client_nonce + b":" + b64md5(body)).digest()).decode()
        return f.get("username") == self.user and f.get("mac") == want

    def handle_dm(self, body, hmac_header=None):
        root = strip_ns(ET.fromstring(body))
        hdr = root.find("SyncHdr")
        sess_id = text(hdr, "SessionID")
        msg_id = int(text(hdr, "MsgID"))
        self.dev_id = text(hdr, "Source/LocURI", "")
        st = self.state.setdefault(sess_id, {"step": 0, "next_id": 1, "authed": False,
                                             "record": {"id": sess_id, "alerts": [], "results": {},
                                                        "statuses": [], "init": None}})
        rec = st["record"]
        if st["step"] == 0 and rec not in self.sessions:
            self.sessions.append(rec)
        cmds = list(root.find("SyncBody"))
        out, cid = [], [0]

        def nid():
            cid[0] += 1
            return cid[0]

        # client credentials
        cred = text(hdr, "Cred/Data")
        user = text(hdr, "Source/LocName")
        ctype = text(hdr, "Cred/Meta/Type")
        ok = st["authed"]
        if hmac_header is not None:
            # HMAC: every message is checked, with the nonce of the previous one
            ok = self.hmac_ok(hmac_header, body)
            self.hmac_seen += ok
        elif cred is not None:
            if ctype == "syncml:auth-md5":
                ok = user == self.user and cred == md5_cred(self.user, self.password, self.client_nonce)
            elif ctype == "syncml:auth-basic":
                ok = cred == base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        next_nonce = os.urandom(16)
        code = (200 if hmac_header is not None else 212) if ok else (401 if cred is not None else 407)
        self.client_nonce = next_nonce
        out.append(self.status(nid(), msg_id, 0, "SyncHdr", code, chal_nonce=next_nonce,
                               target=text(hdr, "Target/LocURI"), source=self.dev_id))
        st["authed"] = ok
        if not ok:
            rec.setdefault("auth_failures", 0)
            rec["auth_failures"] += 1
            return self._reply(sess_id, st["next_id"], out, cred=True, final=True), st

        resend = False
        asked_more = False
        for c in cmds:
            tag, cmd_id = c.tag, text(c, "CmdID")
            if tag == "Status":
                ref, code_ = text(c, "CmdRef"), int(text(c, "Data"))
                rec["statuses"].append((text(c, "Cmd"), ref, code_))
                if ref == "0":
                    # the device rotates the nonce we authenticate with
                    n = text(c, "Chal/Meta/NextNonce")
                    if n is not None:
                        self.server_nonce = base64.b64decode(n)
                    resend = code_ in (401, 407)
            elif tag == "Results":
                for it in c.findall("Item"):
                    rec["results"][text(it, "Source/LocURI")] = text(it, "Data", "")
            elif tag == "Alert":
                acode = int(text(c, "Data"))
                reply = 200
                if acode in (1200, 1201):
                    rec["init"] = acode
                elif acode == 1225:
                    rec["no_end_of_data"] = text(c, "Item/Target/LocURI") or text(c, "Item/Source/LocURI")
                elif acode == 1222:
                    asked_more = True
                    rec["next_message_alerts"] = rec.get("next_message_alerts", 0) + 1
                elif acode == 1226:
                    it = c.find("Item")
                    a = {"correlator": text(c, "Correlator"), "source": text(it, "Source/LocURI"),
                         "type": text(it, "Meta/Type"), "format": text(it, "Meta/Format"),
                         "mark": text(it, "Meta/Mark"), "result": int(text(it, "Data"))}
                    with self.lock:
                        reply = self.ack_codes.pop(0) if self.ack_codes else 200
                        a["answered"] = reply
                        self.alerts.append(a)
                    rec["alerts"].append(a)
                out.append(self.status(nid(), msg_id, cmd_id, "Alert", reply))
            elif tag == "Replace":
                for it in c.findall("Item"):
                    rec.setdefault("devinfo", {})[text(it, "Source/LocURI")] = text(it, "Data", "")
                out.append(self.status(nid(), msg_id, cmd_id, "Replace", 200))
        if root.find("SyncBody/Final") is None and not asked_more:
            # the device's package continues: ask for its next message
            rec["device_split"] = rec.get("device_split", 0) + 1
            out.append(f"<Alert><CmdID>{nid()}</CmdID><Data>1222</Data></Alert>")
            st["next_id"] += 1
            return self._reply(sess_id, st["next_id"] - 1, out, final=False), st
        if st.get("chunks"):
            # in-band package: the next chunk of the large object
            out += self.next_chunk(st, nid)
            st["next_id"] += 1
            return self._reply(sess_id, st["next_id"] - 1, out, final=not st["chunks"]), st
        step = st["step"]
        st["step"] += 1
        if resend:
            # the device refused our credentials: send the same step again
            st["step"] = st.get("last_step", step)
            step = st["step"]
            st["step"] += 1
        st["last_step"] = step
        if step == self.abort_at:
            out.append(f"<Alert><CmdID>{nid()}</CmdID><Data>1223</Data></Alert>")
            rec["aborted"] = True
            st["next_id"] += 1
            return self._reply(sess_id, st["next_id"] - 1, out), st
        out += self.script(rec, step, nid, st)
        st["next_id"] += 1
        final = not (self.server_multi and step == 0) and not st.get("chunks")
        return self._reply(sess_id, st["next_id"] - 1, out, final=final), st

    def next_chunk(self, st, nid):
        """One MoreData chunk of Update/PkgData (the last carries no MoreData, then Exec)."""
        rom_id, off, data, chunk, declared, corr = st["chunks"]
        if off and self.interrupt_chunks:
            st["chunks"] = None        # the object is abandoned: straight to the Exec
            return [f"<Exec><CmdID>{nid()}</CmdID><Correlator>{esc(corr)}</Correlator><Item><Target>"
                    f"<LocURI>./FwUpdate/{rom_id}/Update</LocURI></Target></Item></Exec>"]
        piece = data[off:off + chunk]
        last = off + chunk >= len(data)
        meta = '<Format xmlns="syncml:metinf">bin</Format>'
        if off == 0:
            meta += f'<Size xmlns="syncml:metinf">{declared}</Size>'
        out = [f"<Replace><CmdID>{nid()}</CmdID><Item><Target><LocURI>./FwUpdate/{rom_id}/Update/PkgData"
               f"</LocURI></Target><Meta>{meta}</Meta><Data>{base64.b64encode(piece).decode()}</Data>"
               + ("" if last else "<MoreData/>") + "</Item></Replace>"]
        if last:
            st["chunks"] = None
            out.append(f"<Exec><CmdID>{nid()}</CmdID><Correlator>{esc(corr)}</Correlator><Item><Target>"
                       f"<LocURI>./FwUpdate/{rom_id}/Update</LocURI></Target></Item></Exec>")
        else:
            st["chunks"] = (rom_id, off + chunk, data, chunk, declared, corr)
        return out

    def script(self, rec, step, nid, st):
        """Management commands for package 2 (step 0), 4 (step 1) ..."""
        rom = "./Vendor/updelta/ROMPackage"
        if step == 0:
            return [f"<Get><CmdID>{nid()}</CmdID><Item><Target><LocURI>{rom}</LocURI></Target></Item></Get>"]
        if step == 1:
            ids = [x for x in rec["results"].get(rom, "").split("/") if x]
            rec["rom_ids"] = ids
            return [f"<Get><CmdID>{nid()}</CmdID>" +
                    "".join(f"<Item><Target><LocURI>{rom}/{i}/PkgVersion</LocURI></Target></Item>" for i in ids) +
                    "</Get>"]
        if step == 2:
            for i in rec.get("rom_ids", []):
                v = rec["results"].get(f"{rom}/{i}/PkgVersion")
                if v is not None:
                    with self.lock:
                        self.versions[i] = v
            if rec["init"] != 1200:
                return []
            with self.lock:
                jobs, self.jobs = self.jobs, []
                pkgdata, self.pkgdata = self.pkgdata, None
            if pkgdata:
                rom_id, data, chunk, declared, corr = pkgdata
                st["chunks"] = (rom_id, 0, data, chunk, declared, corr)
                return self.next_chunk(st, nid)
            out = []
            for rom_id, url, corr in jobs:
                base = f"./FwUpdate/{rom_id}"
                out.append(f"<Replace><CmdID>{nid()}</CmdID><Item><Target><LocURI>{base}/DownloadAndUpdate/PkgURL"
                           f"</LocURI></Target><Meta><Format xmlns=\"syncml:metinf\">chr</Format></Meta>"
                           f"<Data>{esc(url)}</Data></Item></Replace>")
                out.append(f"<Exec><CmdID>{nid()}</CmdID><Correlator>{esc(corr)}</Correlator><Item><Target>"
                           f"<LocURI>{base}/DownloadAndUpdate</LocURI></Target></Item></Exec>")
            return out
        return []

    # ---- HTTP -----------------------------------------------------------------

    def _handler(self):
        peer = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                ct = self.headers.get("Content-Type", "")
                wbxml = "wbxml" in ct
                if "syncml" not in ct or "xml" not in ct:
                    peer.errors.append(f"bad content type {ct}")
                    return self._empty(415)
                try:
                    if wbxml:
                        peer.wbxml_messages += 1
                        body = wbxml_tool("wbxml2xml", body)
                    reply, _ = peer.handle_dm(body, self.headers.get("x-syncml-hmac"))
                    if wbxml:
                        reply = wbxml_tool("xml2wbxml", DOCTYPE + reply, "-v", "1.2")
                except Exception as e:  # a broken message from the device is a test failure
                    peer.errors.append(f"{type(e).__name__}: {e}")
                    return self._empty(400)
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.syncml.dm+" + ("wbxml" if wbxml else "xml"))
                if peer.hmac_mode:
                    nonce = peer.server_nonce
                    if peer.bad_mac_once:
                        peer.bad_mac_once, nonce = False, b"wrong"
                    mac = base64.b64encode(hashlib.md5(
                        b64md5(f"{peer.server_id}:{peer.server_pass}".encode()) + b":" + nonce + b":" +
                        b64md5(reply)).digest()).decode()
                    self.send_header("x-syncml-hmac", f'algorithm=MD5, username="{peer.server_id}", mac={mac}')
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def _file(self):
                name = os.path.basename(self.path.split("?")[0])
                p = os.path.join(peer.pkg_dir, name)
                return p if self.path.startswith("/pkg/") and os.path.isfile(p) else None

            def _empty(self, code):
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self):
                p = self._file()
                if not p:
                    return self._empty(404)
                self.send_response(200)
                self.send_header("Content-Length", str(os.path.getsize(p)))
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", f'"{int(os.path.getmtime(p))}-{os.path.getsize(p)}"')
                self.end_headers()

            def do_GET(self):
                p = self._file()
                if not p:
                    return self._empty(404)
                data = open(p, "rb").read()
                size, start, end = len(data), 0, len(data) - 1
                m = re.match(r"bytes\s*=\s*(\d+)-(\d*)", self.headers.get("Range", ""))
                if m:
                    start = int(m.group(1))
                    end = int(m.group(2)) if m.group(2) else size - 1
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
                else:
                    self.send_response(200)
                peer.downloads.append((self.path, start, end))
                self.send_header("Content-Length", str(end - start + 1))
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", f'"{int(os.path.getmtime(p))}-{size}"')
                self.end_headers()
                try:
                    for off in range(start, end + 1, 16384):
                        self.wfile.write(data[off:min(off + 16384, end + 1)])
                        if peer.throttle:
                            self.wfile.flush()
                            threading.Event().wait(peer.throttle)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        return H
