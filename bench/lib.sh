# Helpers shared by the bench scripts (sourced, not run).

# A free TCP port on 127.0.0.1.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# True when a server on 127.0.0.1:$1 answers the `srvr` four-letter word with its mode.
serving() {
  local reply=""
  if exec 3<>"/dev/tcp/127.0.0.1/$1"; then
    printf srvr >&3 || true
    reply=$(timeout 2 cat <&3 || true)
    exec 3<&- 3>&- || true
  fi 2>/dev/null
  [[ "$reply" == *"Mode: "* ]]
}
