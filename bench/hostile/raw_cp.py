#!/usr/bin/env python3
"""bench/hostile/raw_cp.py CERT KEY SHAPE: a control plane that upgrades one data plane's
connection (TLS, websocket), waits for basic_info, sends a pong and then ONE reconfigure frame of
the given shape, and holds the connection. Prints its port on stdout. Shapes:
  small       a 1 KiB config (the baseline)
  empties     256 MiB of `{}` services (255 KB of gzip; refused at the entity cap)
  tags        250 MiB of tags in one service (accepted whole)
The frame carries a config_hash, as Kong's CP sends it."""
import base64, hashlib, socket, ssl, struct, sys, time, zlib

cert, key, shape = sys.argv[1:4]
HASH = "0123456789abcdef0123456789abcdef"


def gzip_frame(head, item, count, tail):
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(('{"type":"reconfigure","config_hash":"%s","config_table":' % HASH + head).encode())]
    chunk = ((item + ",") * 65536).encode()
    whole, rest = divmod(count - 1, 65536)
    for _ in range(whole):
        out.append(z.compress(chunk))
    out.append(z.compress(((item + ",") * rest + item + tail + "}").encode()))
    out.append(z.flush())
    return b"".join(out)


if shape == "small":
    payload = gzip_frame('{"_format_version":"3.0","services":[', '{"name":"s","url":"http://a.internal"}', 1, "]}")
elif shape == "empties":
    payload = gzip_frame('{"_format_version":"3.0","services":[', "{}", (256 << 20) // 3, "]}")
elif shape == "tags":
    payload = gzip_frame('{"_format_version":"3.0","services":[{"name":"s","tags":[', '"t"', (250 << 20) // 4, "]}]}")
else:
    sys.exit("unknown shape " + shape)

ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.verify_mode = ssl.CERT_OPTIONAL
ctx.load_verify_locations(cert)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0))
srv.listen(4)
print(srv.getsockname()[1], len(payload), flush=True)
conn, _ = srv.accept()
s = ctx.wrap_socket(conn, server_side=True)
req = b""
while b"\r\n\r\n" not in req:
    req += s.recv(4096)
wskey = [l.split(b":", 1)[1].strip() for l in req.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key:")][0]
accept = base64.b64encode(hashlib.sha1(wskey + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
          b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
s.recv(65536)  # basic_info (and maybe the first ping)
s.sendall(b"\x8a\x00")  # a pong: the CP is alive
header = b"\x82" + (bytes([len(payload)]) if len(payload) < 126 else
                    b"\x7e" + struct.pack(">H", len(payload)) if len(payload) < 65536 else
                    b"\x7f" + struct.pack(">Q", len(payload)))
s.sendall(header + payload)
s.settimeout(1)
end = time.time() + 600
while time.time() < end:  # hold the session, answering nothing further
    try:
        if not s.recv(65536):
            break
    except (socket.timeout, ssl.SSLError):
        pass
    except OSError:
        break
