#!/usr/bin/env python3
"""Writes the frames of test/protocol/kong_frames/ byte for byte as Kong's Lua puts them on the
wire (Kong 2.8-3.9, sync v1 /v1/outlet; ../../../../shared/research/kong-protocol.md). Nothing here
uses lifeboat's code: the frames are built from Kong's sources as read, so that lifeboat's decoder
and encoder cannot agree on a wrong format. Run it to regenerate; the tests read the .bin files.

Where each byte comes from:
- WebSocket framing: lua-resty-websocket protocol.lua build_frame(): first byte FIN|opcode,
  second byte mask bit|length (126 + 16-bit or 127 + 64-bit big-endian lengths), then the
  4-byte masking key for client frames. Servers (the CP) never mask; clients (the DP) always do.
  Kong never fragments.
- CP -> DP reconfigure: control_plane.lua export_deflated_reconfigure_payload(): a binary frame of
  gzip(cjson.encode(envelope)); kong/tools/gzip.lua deflate_gzip() through lua-ffi-zlib
  deflateInit2(level Z_DEFAULT_COMPRESSION (6), Z_DEFLATED, windowBits 15+16, memLevel 8,
  Z_DEFAULT_STRATEGY), which Python's zlib (the same C zlib) reproduces bit for bit.
- cjson: escapes '/' as '\\/', prints numbers with "%.14g", and walks Lua tables in hash order
  (not sorted): the key orders below are deliberately unsorted.
- CP -> DP pong: control_plane.lua write_thread: wb:send_pong() with no payload.
- CP -> DP close: wb:send_close() with no code and no reason: an empty close payload.
- DP -> CP basic_info: data_plane.lua communicate(): a binary frame of cjson.encode({type=
  "basic_info", plugins=..., process_conf=..., filters=..., labels=...}), uncompressed; 2.8-3.3 send
  only type and plugins.
- DP -> CP ping: data_plane.lua send_ping(): wb:send_ping(hash), the 32-hex config hash, or 32
  zeros (DECLARATIVE_EMPTY_CONFIG_HASH) before any config. The RPC (v2) heartbeat pings are empty.
- Config hash: config_helper.lua calculate_config_hash / to_sorted_string, reimplemented below.
"""
import gzip
import hashlib
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def frame(opcode, payload, mask=None):
    n = len(payload)
    b0 = 0x80 | opcode
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n <= 0xFFFF:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if not mask:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def lua_number(v):
    return "%.14g" % v


def cjson(v):
    """cjson.encode as Kong configures it: '/' escaped, %.14g numbers, no spaces."""
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return lua_number(v)
    if isinstance(v, str):
        out = '"'
        for ch in v:
            if ch == '"':
                out += '\\"'
            elif ch == "\\":
                out += "\\\\"
            elif ch == "/":
                out += "\\/"
            elif ch == "\n":
                out += "\\n"
            elif ord(ch) < 0x20:
                out += "\\u%04x" % ord(ch)
            else:
                out += ch
        return out + '"'
    if isinstance(v, list):
        return "[" + ",".join(cjson(x) for x in v) + "]"
    return "{" + ",".join(cjson(k) + ":" + cjson(x) for k, x in v.items()) + "}"


def to_sorted_string(v):
    # Small configs only: Kong's 1,000,000-byte compaction never triggers here.
    if v is None:
        return "/null/"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return lua_number(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        if not v:
            return "{}"
        if len(v) <= 5:
            return ";".join(to_sorted_string(x) for x in v)
        return "".join(to_sorted_string(x) + ";" for x in v)
    if not v:
        return "{}"
    return "".join(k + ":" + to_sorted_string(v[k]) + ";" for k in sorted(v, key=lambda k: k.encode()))


def calculate_hash(v):
    if v is None:
        return "0" * 32
    return hashlib.md5(to_sorted_string(v).encode()).hexdigest()


def config_hashes(table):
    names = ["routes", "services", "plugins", "upstreams", "targets"]
    parts = {n: calculate_hash(table.get(n)) for n in names}
    rest = {k: v for k, v in table.items() if k not in names}
    parts["rest"] = calculate_hash(rest)
    config = hashlib.md5("".join(parts[n] for n in names + ["rest"]).encode()).hexdigest()
    return {"config": config, "routes": parts["routes"], "services": parts["services"],
            "plugins": parts["plugins"], "upstreams": parts["upstreams"], "targets": parts["targets"]}


def kong_gzip(data):
    c = zlib.compressobj(6, zlib.DEFLATED, 15 + 16, 8, zlib.Z_DEFAULT_STRATEGY)
    return c.compress(data) + c.flush()


def reconfigure(table, config_hash, hashes, timestamp):
    envelope = {"timestamp": timestamp, "config_table": table, "type": "reconfigure",
                "hashes": hashes, "config_hash": config_hash}
    return frame(0x2, kong_gzip(cjson(envelope).encode()))


# A Kong 3.9 export (declarative/export.lua): _format_version "3.0", _transform false, one array per
# entity, foreign keys as plain ids, hash-ordered keys.
TABLE = {
    "services": [{"protocol": "http", "name": "echo", "port": 8080, "host": "echo.internal",
                  "id": "9d2f1c9a-3b1e-4d7e-9c51-6f3a8b0d2e11", "retries": 5,
                  "connect_timeout": 60000, "path": "/v1/echo", "tags": ["team/a"]}],
    "_transform": False,
    "routes": [{"strip_path": True, "paths": ["/echo", "/e/x"], "service": "9d2f1c9a-3b1e-4d7e-9c51-6f3a8b0d2e11",
                "id": "1b7e2c4f-8a90-4b1c-a2d3-e4f5a6b7c8d9", "protocols": ["http", "https"],
                "regex_priority": 0, "preserve_host": False}],
    "plugins": [{"enabled": True, "name": "rate-limiting", "id": "5c6d7e8f-0a1b-4c2d-8e3f-405162738495",
                 "config": {"minute": 5, "policy": "local", "limit_by": "consumer", "error_code": 429,
                            "error_message": "API rate limit exceeded"},
                 "protocols": ["grpc", "grpcs", "http", "https"]}],
    "_format_version": "3.0",
}

# The same config after the CP's compat layer rewrote it for an older DP
# (compat/init.lua update_compatible_payload): a deep copy with fields stripped (here two plugin
# fields, as removed_fields.lua does for older versions) and re-gzipped; config_hash and hashes are
# those of the unmodified table, not recomputed.
COMPAT_TABLE = {
    "services": TABLE["services"],
    "_transform": False,
    "routes": TABLE["routes"],
    "plugins": [{"enabled": True, "name": "rate-limiting", "id": "5c6d7e8f-0a1b-4c2d-8e3f-405162738495",
                 "config": {"minute": 5, "policy": "local", "limit_by": "consumer"},
                 "protocols": ["grpc", "grpcs", "http", "https"]}],
    "_format_version": "3.0",
}


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def main():
    hashes = config_hashes(TABLE)
    # Files the tests check against: the expected hashes, one per line, name=value.
    expect = ["config_hash=" + hashes["config"], "compat_table_hash=" + config_hashes(COMPAT_TABLE)["config"]]
    write("expected.txt", ("\n".join(expect) + "\n").encode())

    # CP -> DP (server frames, unmasked)
    write("cp_reconfigure_3.9.bin", reconfigure(TABLE, hashes["config"], hashes, 1733400000.123))
    write("cp_reconfigure_compat_rewritten.bin",
          reconfigure(COMPAT_TABLE, hashes["config"], hashes, 1733400007.5))
    # 2.8 sent no `hashes` (and a CP of that era hashed differently: the DP adopts config_hash as
    # sent, whatever it is).
    env28 = {"config_table": {"_format_version": "2.1", "services": [], "_transform": False},
             "type": "reconfigure", "timestamp": 1733400010, "config_hash": "e3b0c44298fc1c149afbf4c8996fb924"}
    write("cp_reconfigure_2.8.bin", frame(0x2, kong_gzip(cjson(env28).encode())))
    write("cp_pong_empty.bin", frame(0xA, b""))
    write("cp_close_no_code.bin", frame(0x8, b""))

    # DP -> CP (client frames, masked; lua-resty-websocket draws a random key, fixed here)
    mask = bytes([0x37, 0xFA, 0x21, 0x3D])
    plugins = [{"name": "key-auth", "version": "3.9.0"}, {"name": "rate-limiting", "version": "3.9.0"}]
    info_28 = {"plugins": [{"name": "key-auth", "version": "2.8.0"}], "type": "basic_info"}
    info_34 = {"type": "basic_info", "plugins": [{"name": "key-auth", "version": "3.4.2"},
                                                 {"name": "rate-limiting", "version": "3.4.2"}],
               "process_conf": {"role": "data_plane", "database": "off", "cluster_mtls": "shared",
                                "prefix": "/usr/local/kong"}}
    info_39 = {"labels": {"region": "eu-west-1", "deployment": "blue"}, "filters": {},
               "process_conf": {"cluster_control_plane": "cp.internal:8005", "role": "data_plane",
                                "router_flavor": "traditional_compatible", "database": "off",
                                "cluster_max_payload": 16777216},
               "type": "basic_info", "plugins": plugins}
    write("dp_basic_info_2.8.bin", frame(0x2, cjson(info_28).encode(), mask))
    write("dp_basic_info_3.4.bin", frame(0x2, cjson(info_34).encode(), mask))
    write("dp_basic_info_3.9.bin", frame(0x2, cjson(info_39).encode(), mask))
    write("dp_ping_empty_config.bin", frame(0x9, b"0" * 32, mask))
    write("dp_ping_hash.bin", frame(0x9, hashes["config"].encode(), mask))
    write("dp_ping_no_hash.bin", frame(0x9, b"", mask))


if __name__ == "__main__":
    main()
