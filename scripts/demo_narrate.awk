# demo_narrate.awk: reads `tail -F server.log device.log` (updelta-server
# serve --events, updelta-device) and prints the lines that mark a step of
# the seed's flow, with the log's time (UTC) and the step number; draws
# the download agent's progress as a bar (TTY: redrawn in place, tty=1) or
# as a line per quarter (a log).  Server lines have whole seconds and come
# up to ~0.1 s late (the server prints its events table ten times a
# second), so they may follow device lines that happened after them.
# Part of scripts/demo.sh.
function say(step, who, text) {
    if (barline) { printf "\n"; barline = 0 }
    printf "  %-12s %-3s %-7s %s\n", at, step, who, text
    fflush()
}
function bar(id, done, total,   pct, n, s, i) {
    pct = total ? int(100 * done / total) : 0
    n = int(pct / 4)
    s = ""
    for (i = 0; i < 25; i++) s = s (i < n ? "#" : "-")
    if (tty) {
        printf "\r  %-12s 6   device  download %-11s [%s] %3d%% %d/%d bytes", at, id, s, pct, done, total
        barline = 1
        if (done == total) { printf "\n"; barline = 0 }
        fflush()
    } else if (int(pct / 25) > shown[id] || (done == total && shown[id] < 5)) {
        shown[id] = done == total ? 5 : int(pct / 25)
        say("6", "device", sprintf("download %-11s [%s] %3d%% %d/%d bytes", id, s, pct, done, total))
    }
}
/^==> .*server\.log <==$/ { src = "server"; next }
/^==> .*device\.log <==$/ { src = "device"; next }
/^$/ { next }
src == "server" {
    # "HH:MM:SS kind device text"
    at = $1
    kind = $2
    text = $0
    sub(/^[^ ]+ +[^ ]+ +[^ ]+ +/, "", text)
    if (kind == "notify") say("1", "server", text)
    else if (kind == "session" && text ~ /opened/) say("2", "server", text)
    else if (kind == "auth" && text ~ /authenticated|accepted the server/) say("2", "server", text)
    else if (kind == "devinfo") say("2", "server", text)
    else if (kind == "rompkg") say("3", "server", text)
    else if (kind == "plan") say("4", "server", text)
    else if (kind == "exec" && text ~ /Exec answered/) say("5", "server", text)
    else if (kind == "exec") say("4", "server", text)
    else if (kind == "alert") say("9", "server", text)
    else if (kind == "verify") say("10", "server", text)
    else if (kind == "state") say(text ~ /verified/ ? "10" : text ~ /failed/ ? "9" : "4", "server", text)
    next
}
src == "device" {
    at = substr($1, 12, 12)
    text = $0
    sub(/^[^ ]+ updelta-device\[[0-9]+\]: /, "", text)
    # the DM commands the device ran, from its log (a session that carried
    # a final alert ends with the server's ROMPackage check: step 10)
    if (text ~ /^dm: session .*: package 1/) { check = text ~ /[1-9][0-9]* generic alert/; say("2", "device", substr(text, 5)) }
    else if (text ~ /^dm: Get .*ROMPackage -> /) say(check ? "10" : "3", "device", substr(text, 5))
    else if (text ~ /^dm: Replace .*PkgURL -> /) say("4", "device", substr(text, 5))
    else if (text ~ /^dm: Exec /) say("5", "device", substr(text, 5))
    else if (text ~ /^dm: generic alert /) say("9", "device", substr(text, 5))
    else if (text ~ /^notification/) say("1", "device", text)
    else if (text ~ /^download agent:/) say("6", "device", text)
    else if (text ~ /: download progress /) {
        split(text, w, /[ :\/,]+/)
        # w: id "download" "progress" done total "bytes" ...
        bar(w[1], w[4] + 0, w[5] + 0)
    }
    else if (text ~ /: (downloaded|download failed)/) say("6", "device", text)
    else if (text ~ /: (verifying|installing|applied|installed|install failed|streaming|streamed)/) say("7", "device", text)
    else if (text ~ /^started:/) say("7", "device", "rebooted: " text)
    else if (text ~ /^PROMPT:/) say("7", "device", text)
    else if (text ~ /: State [0-9]+ -> /) say("8", "device", text)
    else if (text ~ /final alert 1226/) say("9", "device", text)
}
