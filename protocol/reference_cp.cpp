#include "protocol/reference_cp.hpp"

#include "base/digest.hpp"
#include "base/gzip.hpp"
#include "base/kong_version.hpp"
#include "base/log.hpp"
#include "base/time_format.hpp"
#include "protocol/envelope.hpp"
#include "protocol/kong_hash.hpp"
#include "protocol/kong_node.hpp"
#include "protocol/tls_util.hpp"
#include "protocol/ws_frame.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <deque>
#include <fstream>
#include <list>
#include <map>
#include <set>
#include <sstream>
#include <sys/stat.h>

namespace lifeboat::protocol {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto as_tuple_awaitable = asio::as_tuple(asio::use_awaitable);
using steady = std::chrono::steady_clock;

std::string shorten(std::string_view s) {
    std::string out;
    for (unsigned char c : s.substr(0, 64))
        out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
    return s.size() > 64 ? out + "..." : out;
}

struct file_key {
    std::int64_t mtime_ns = -1;
    std::int64_t size = -1;
    std::uint64_t inode = 0;
    bool operator==(const file_key&) const = default;
};

std::optional<file_key> stat_file(const std::filesystem::path& p) {
    struct stat st {};
    if (::stat(p.c_str(), &st) != 0)
        return std::nullopt;
    return file_key{std::int64_t(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec,
                    std::int64_t(st.st_size), std::uint64_t(st.st_ino)};
}

result<std::string, std::string> read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in)
        return failure(fmt::format("cannot read {}", p.string()));
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct out_frame {
    std::string header;
    std::shared_ptr<const std::string> payload; // may be null (empty payload)
};

} // namespace

result<served_config, std::string> prepare_config(std::string config_json, double timestamp) {
    // Validate the declarative shape (one SAX pass, clear messages) before building a DOM.
    const config_hashes placeholder{std::string(empty_config_hash)};
    auto checked = snapshot_from_config_table(std::move(config_json), config_source::none, &placeholder);
    if (!checked)
        return failure(std::move(checked.error()));
    const std::string_view text = checked.value()->config_json;

    json::monotonic_resource arena;
    json::parse_options popt;
    popt.max_depth = 1000;
    json::error_code ec;
    const json::value dom = json::parse(text, ec, &arena, popt);
    if (ec || !dom.is_object())
        return failure(std::string("the config cannot be parsed"));
    served_config out;
    out.hashes = kong_config_hashes(dom.get_object());
    std::set<std::string> names;
    if (const auto* plugins = dom.get_object().if_contains("plugins"); plugins && plugins->is_array())
        for (const auto& p : plugins->get_array())
            if (p.is_object())
                if (const auto* name = p.get_object().if_contains("name"); name && name->is_string())
                    names.insert(std::string(name->get_string()));
    out.plugin_names.assign(names.begin(), names.end());
    out.json_bytes = text.size();
    out.frame = std::make_shared<const std::string>(
        gzip_compress(make_reconfigure_envelope(text, out.hashes, timestamp)));
    return out;
}

struct reference_cp::impl {
    asio::any_io_executor ex;
    reference_cp_options opt;
    server_tls tls;
    tcp::acceptor acceptor{ex};
    kong_version cp_version;
    std::vector<plugin_info> bundled; // the catalogue for this CP's version, and --plugin entries

    // The plugins a Kong CP serving this config would have loaded: its bundled set, the custom
    // plugins named with --plugin, and (a real CP cannot hold a config that uses a plugin it has
    // not loaded) any other plugin the config uses, as an unversioned custom plugin.
    std::vector<plugin_info> cp_plugins(const served_config& cfg) const {
        std::vector<plugin_info> out = bundled;
        for (const auto& name : cfg.plugin_names)
            if (std::none_of(out.begin(), out.end(), [&](const auto& p) { return p.name == name; }))
                out.push_back({name, ""});
        std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
        return out;
    }
    std::shared_ptr<const served_config> current;
    std::optional<file_key> file_state;
    std::string last_load_error;

    struct dp_conn;
    std::list<dp_conn*> admitted;

    impl(asio::any_io_executor e, reference_cp_options o) : ex(std::move(e)), opt(std::move(o)) {}

    result<std::shared_ptr<const served_config>, std::string> load_config() {
        auto text = read_file(opt.config_file);
        if (!text)
            return failure(std::move(text.error()));
        auto prepared = prepare_config(std::move(text.value()), to_epoch_seconds(wall_clock::now()));
        if (!prepared)
            return failure(std::move(prepared.error()));
        return std::make_shared<const served_config>(std::move(prepared.value()));
    }

    // ---- one data plane ----

    using stream_t = beast::ssl_stream<beast::tcp_stream>;

    struct dp_conn {
        impl& cp;
        stream_t stream;
        std::string rbuf;
        std::string ip, node_id, hostname, version;
        plugin_map plugins;               // from basic_info
        std::string plugin_versions_text; // for messages
        std::deque<out_frame> queue;
        asio::steady_timer queue_signal;
        asio::steady_timer dead_timer;
        steady::time_point last_seen = steady::now();
        std::string reported_hash;
        std::string end_reason;
        bool quiet_end = false;
        bool write_failed = false;

        dp_conn(impl& c, stream_t s) : cp(c), stream(std::move(s)), queue_signal(c.ex), dead_timer(c.ex) {}

        std::string log_node() const { return node_id; }

        void enqueue(ws::opcode op, std::shared_ptr<const std::string> payload) {
            queue.push_back({ws::server_frame_header(op, payload ? payload->size() : 0), std::move(payload)});
            queue_signal.cancel();
        }

        // Kong's check_configuration_compatibility, against the plugins this CP has loaded.
        std::optional<std::string> plugin_gate(const served_config& cfg) const {
            if (cp.opt.allow_inconsistent_plugins)
                return std::nullopt;
            const std::set<std::string, std::less<>> configured(cfg.plugin_names.begin(),
                                                                cfg.plugin_names.end());
            auto gate = check_configuration_compatibility(cp.cp_plugins(cfg), configured, plugins);
            if (gate.verdict == gate_verdict::normal)
                return std::nullopt;
            return std::move(gate.message);
        }

        void push(const std::shared_ptr<const served_config>& cfg) {
            if (auto refused = plugin_gate(*cfg)) {
                log::warn("unable to send updated configuration to data plane", "reason", *refused, "node_id",
                          node_id, "hostname", hostname);
                return;
            }
            enqueue(ws::opcode::binary, cfg->frame);
            log::info("config sent to data plane", "node_id", node_id, "config_hash", cfg->hashes.config,
                      "bytes", cfg->frame->size());
        }

        // One frame; an empty optional with end_reason set on failure.
        asio::awaitable<std::optional<ws::frame>> read_frame() {
            ws::frame f;
            for (;;) {
                std::size_t used = 0;
                std::string error;
                const auto st = ws::parse_client_frame(rbuf, cp.opt.max_payload, f, used, error);
                if (st == ws::parse_status::frame) {
                    rbuf.erase(0, used);
                    co_return f;
                }
                if (st == ws::parse_status::error) {
                    end_reason = "invalid websocket frame received from data plane: " + error;
                    co_return std::nullopt;
                }
                std::array<char, 16384> chunk;
                auto [ec, n] = co_await stream.async_read_some(asio::buffer(chunk), as_tuple_awaitable);
                if (ec) {
                    if (end_reason.empty())
                        end_reason = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated
                                         ? std::string("data plane closed the connection")
                                         : "error while receiving frame from data plane: " + ec.message();
                    quiet_end = ec == asio::error::eof || ec == asio::ssl::error::stream_truncated;
                    co_return std::nullopt;
                }
                rbuf.append(chunk.data(), n);
            }
        }

        asio::awaitable<void> reader() {
            for (;;) {
                auto f = co_await read_frame();
                if (!f)
                    co_return;
                if (f->op == ws::opcode::close) {
                    quiet_end = true;
                    end_reason = "data plane closed the connection";
                    co_return;
                }
                // Kong's read_thread: exactly 32 bytes, and a ping; anything else ends the session.
                if (f->payload.size() != 32) {
                    end_reason =
                        fmt::format("received a {} frame from the data plane with an invalid hash: '{}'",
                                    ws::to_string(f->op), shorten(f->payload));
                    co_return;
                }
                if (f->op != ws::opcode::ping || !f->fin) {
                    end_reason = fmt::format("invalid websocket frame received from data plane: {}",
                                             ws::to_string(f->op));
                    co_return;
                }
                last_seen = steady::now();
                // Each ping's arrival, for tests that check the pings keep their schedule.
                log::debug("ping received", "node_id", node_id);
                if (f->payload != reported_hash) {
                    reported_hash = f->payload;
                    const bool in_sync = cp.current && reported_hash == cp.current->hashes.config;
                    log::info("data plane status", "node_id", node_id, "hostname", hostname, "version",
                              version, "config_hash", reported_hash, "in_sync", in_sync);
                }
                enqueue(ws::opcode::pong, nullptr);
            }
        }

        asio::awaitable<void> writer() {
            for (;;) {
                while (queue.empty()) {
                    queue_signal.expires_at(steady::time_point::max());
                    co_await queue_signal.async_wait(as_tuple_awaitable);
                    auto cs = co_await asio::this_coro::cancellation_state;
                    if (cs.cancelled() != asio::cancellation_type::none)
                        co_return;
                }
                out_frame f = std::move(queue.front());
                queue.pop_front();
                // Header, then payload, each written whole. A two-buffer sequence went through
                // beast::ssl_stream's coalescing write and the payload never left (frames over
                // one TLS record, 16 KiB, stalled with only their header sent).
                auto [ec, n] = co_await asio::async_write(stream, asio::buffer(f.header), as_tuple_awaitable);
                if (!ec && f.payload && !f.payload->empty()) {
                    auto [pec, pn] =
                        co_await asio::async_write(stream, asio::buffer(*f.payload), as_tuple_awaitable);
                    ec = pec;
                }
                if (ec) {
                    write_failed = true;
                    if (end_reason.empty())
                        end_reason = "unable to send to data plane: " + ec.message();
                    co_return;
                }
            }
        }

        asio::awaitable<void> watchdog() {
            for (;;) {
                dead_timer.expires_at(last_seen + cp.opt.dead_after);
                auto [ec] = co_await dead_timer.async_wait(as_tuple_awaitable);
                if (ec)
                    co_return;
                if (steady::now() - last_seen >= cp.opt.dead_after) {
                    end_reason = fmt::format("did not receive ping frame from data plane within {} seconds",
                                             std::chrono::duration<double>(cp.opt.dead_after).count());
                    co_return;
                }
            }
        }

        // Kong answers a bad session with send_close(): an empty close frame, no status code.
        asio::awaitable<void> close_politely() {
            if (!write_failed) {
                const std::string close = ws::server_frame_header(ws::opcode::close, 0);
                beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
                co_await asio::async_write(stream, asio::buffer(close), as_tuple_awaitable);
            }
            boost::system::error_code ignored;
            beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
            beast::get_lowest_layer(stream).close();
        }
    };

    asio::awaitable<void> answer(stream_t& stream, http::status status, std::string body) {
        http::response<http::string_body> res{status, 11};
        res.set(http::field::server, "lifeboat-cp");
        res.set(http::field::content_type, "text/plain");
        res.set(http::field::connection, "close");
        res.body() = std::move(body);
        res.prepare_payload();
        co_await http::async_write(stream, res, as_tuple_awaitable);
        beast::get_lowest_layer(stream).close();
    }

    asio::awaitable<void> serve(tcp::socket socket) {
        boost::system::error_code ec;
        const auto remote = socket.remote_endpoint(ec);
        const std::string ip = ec ? std::string("?") : remote.address().to_string();
        stream_t stream(beast::tcp_stream(std::move(socket)), *tls.context);
        auto& tcp_layer = beast::get_lowest_layer(stream);

        tcp_layer.expires_after(opt.handshake_timeout);
        auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, as_tuple_awaitable);
        if (hec) {
            log::warn("TLS handshake with a data plane failed", "ip", ip, "error", hec.message());
            co_return;
        }
        if (opt.mtls == cluster_mtls::shared) {
            const std::string der = peer_cert_der(stream.native_handle());
            if (der.empty() || sha256(der) != tls.own_cert_sha256) {
                // nginx's 444: close without answering.
                log::warn(der.empty() ? "data plane presented no client certificate; connection closed"
                                      : "data plane certificate does not match the cluster certificate "
                                        "(cluster_mtls = shared); connection closed",
                          "ip", ip);
                tcp_layer.close();
                co_return;
            }
        }

        beast::flat_buffer buffer;
        http::request_parser<http::empty_body> parser;
        parser.header_limit(16 * 1024);
        auto [rec, rn] = co_await http::async_read(stream, buffer, parser, as_tuple_awaitable);
        if (rec) {
            log::warn("cannot read the data plane's request", "ip", ip, "error", rec.message());
            co_return;
        }
        const auto& req = parser.get();
        const auto query = parse_outlet_target(std::string_view(req.target().data(), req.target().size()));
        if (!query) {
            co_await answer(stream, http::status::not_found, "not found\n");
            co_return;
        }
        const auto& [node_id, hostname, version] = *query;
        const auto suffix = fmt::format("id: {}, host: {}, ip: {}, version: {}", node_id.value_or("-"),
                                        hostname.value_or("-"), ip, version.value_or("-"));
        if (!node_id || !version) {
            log::warn(!node_id ? "data plane didn't pass the id" : "data plane didn't pass the version", "dp",
                      suffix);
            co_await answer(stream, http::status::bad_request, "node_id and node_version are required\n");
            co_return;
        }
        const auto key = req[http::field::sec_websocket_key];
        if (!beast::websocket::is_upgrade(req) || key.empty() ||
            req[http::field::sec_websocket_version] != "13") {
            log::warn("data plane request is not a websocket upgrade", "dp", suffix);
            co_await answer(stream, http::status::bad_request, "websocket upgrade required\n");
            co_return;
        }
        http::response<http::empty_body> res{http::status::switching_protocols, 11};
        res.set(http::field::upgrade, "websocket");
        res.set(http::field::connection, "Upgrade");
        res.set(http::field::sec_websocket_accept, ws::accept_key(std::string_view(key.data(), key.size())));
        tcp_layer.expires_after(opt.handshake_timeout);
        auto [uec, un] = co_await http::async_write(stream, res, as_tuple_awaitable);
        if (uec)
            co_return;

        auto conn = std::make_unique<dp_conn>(*this, std::move(stream));
        conn->ip = ip;
        conn->node_id = *node_id;
        conn->hostname = hostname.value_or("");
        conn->version = *version;
        const auto leftover = buffer.cdata();
        conn->rbuf.assign(static_cast<const char*>(leftover.data()), leftover.size());
        co_await run_dp(*conn, suffix);
    }

    // basic_info, the version check, then the session. Returns the refusal reason if refused.
    std::optional<std::string> admit(dp_conn& c, const ws::frame& first) {
        if (first.op != ws::opcode::binary)
            return fmt::format("failed to receive websocket basic info frame: got a {} frame",
                               ws::to_string(first.op));
        auto plugins = parse_basic_info(first.payload);
        if (!plugins)
            return std::move(plugins.error());
        c.plugins = to_plugin_map(plugins.value());
        // check_kong_version_compatibility
        const auto dp = parse_kong_version(c.version);
        if (!dp)
            return fmt::format(
                "data plane version is incompatible with control plane version {} ({}.x.y are accepted)",
                opt.version, cp_version.major);
        if (dp->major != cp_version.major)
            return fmt::format(
                "data plane version {} is incompatible with control plane version {} ({}.x.y are "
                "accepted)",
                c.version, opt.version, cp_version.major);
        if (cp_version.minor < dp->minor)
            return fmt::format("data plane version {} is incompatible with older control plane version {}",
                               c.version, opt.version);
        if (cp_version.minor != dp->minor)
            log::info("data plane minor version is different to control plane minor version", "dp_version",
                      c.version, "cp_version", opt.version);
        return std::nullopt;
    }

    asio::awaitable<void> run_dp(dp_conn& c, const std::string& suffix) {
        // basic_info must come first, within the socket timeout Kong uses (5 s).
        beast::get_lowest_layer(c.stream).expires_after(std::chrono::seconds(5));
        auto first = co_await c.read_frame();
        beast::get_lowest_layer(c.stream).expires_never();
        std::optional<std::string> refused;
        if (!first)
            refused = "failed to receive websocket basic info frame: " + c.end_reason;
        else
            refused = admit(c, *first);
        if (refused) {
            log::error("data plane refused", "reason", *refused, "dp", suffix);
            co_await c.close_politely();
            co_return;
        }
        c.end_reason.clear();
        c.last_seen = steady::now();
        log::info("data plane connected", "node_id", c.node_id, "hostname", c.hostname, "version", c.version,
                  "ip", c.ip);
        admitted.push_back(&c);
        if (current)
            c.push(current);

        co_await (c.reader() || c.writer() || c.watchdog());

        admitted.remove(&c);
        if (c.quiet_end)
            log::info("data plane disconnected", "node_id", c.node_id, "reason", c.end_reason);
        else
            log::error("data plane dropped", "node_id", c.node_id, "reason", c.end_reason);
        co_await c.close_politely();
    }

    // ---- listener and file watcher ----

    asio::awaitable<void> accept_loop() {
        for (;;) {
            auto [ec, socket] = co_await acceptor.async_accept(as_tuple_awaitable);
            if (ec) {
                if (ec == asio::error::operation_aborted)
                    co_return;
                log::warn("accept failed", "error", ec.message());
                asio::steady_timer pause(ex,
                                         std::chrono::milliseconds(100)); // EMFILE and friends: never spin
                co_await pause.async_wait(as_tuple_awaitable);
                continue;
            }
            asio::co_spawn(ex, serve(std::move(socket)), [](std::exception_ptr e) {
                if (e) {
                    try {
                        std::rethrow_exception(e);
                    } catch (const std::exception& x) {
                        log::error("data plane connection failed", "error", x.what());
                    }
                }
            });
        }
    }

    void reload_if_changed() {
        const auto key = stat_file(opt.config_file);
        if (!key) {
            const std::string why = fmt::format("cannot stat {}", opt.config_file.string());
            if (why != last_load_error)
                log::error("config file unavailable; still serving the previous config", "reason", why);
            last_load_error = why;
            return;
        }
        if (key == file_state && last_load_error.empty())
            return;
        file_state = key;
        auto loaded = load_config();
        if (!loaded) {
            if (loaded.error() != last_load_error)
                log::error("config file rejected; still serving the previous config", "file",
                           opt.config_file.string(), "reason", loaded.error());
            last_load_error = loaded.error();
            return;
        }
        last_load_error.clear();
        if (current && loaded.value()->hashes.config == current->hashes.config)
            return;
        current = std::move(loaded.value());
        log::info("config loaded", "file", opt.config_file.string(), "config_hash", current->hashes.config,
                  "bytes", current->json_bytes, "data_planes", admitted.size());
        for (auto* c : admitted)
            c->push(current);
    }

    asio::awaitable<void> watch_loop() {
        asio::steady_timer timer(ex);
        for (;;) {
            timer.expires_after(opt.poll_interval);
            auto [ec] = co_await timer.async_wait(as_tuple_awaitable);
            if (ec)
                co_return;
            reload_if_changed();
        }
    }
};

reference_cp::reference_cp(asio::any_io_executor executor, reference_cp_options options)
    : impl_(std::make_unique<impl>(std::move(executor), std::move(options))) {}

reference_cp::~reference_cp() = default;

result<void, std::string> reference_cp::open() {
    auto& s = *impl_;
    const auto v = parse_kong_version(s.opt.version);
    if (!v)
        return failure(fmt::format("--version {} is not X.Y.Z or X.Y.Z.W", s.opt.version));
    s.cp_version = *v;
    std::vector<std::string> custom;
    for (const auto& p : s.opt.plugins)
        custom.push_back("+" + p);
    auto selection = parse_plugin_selection(custom);
    if (!selection)
        return failure(
            fmt::format("--plugin: {}", selection.error().substr(selection.error().find(": ") + 2)));
    s.bundled = resolve_plugins(*selection, s.opt.version);
    if (s.opt.mtls == cluster_mtls::pki && s.opt.ca.empty())
        return failure(std::string("--mtls pki needs --ca"));
    auto tls =
        make_server_tls_context({s.opt.cert, s.opt.key, s.opt.mtls == cluster_mtls::pki ? s.opt.ca : ""});
    if (!tls)
        return failure(std::move(tls.error()));
    s.tls = std::move(tls.value());

    s.file_state = stat_file(s.opt.config_file);
    auto loaded = s.load_config();
    if (!loaded)
        return failure(fmt::format("config {}: {}", s.opt.config_file.string(), loaded.error()));
    s.current = std::move(loaded.value());

    const auto colon = s.opt.listen.rfind(':');
    if (colon == std::string::npos)
        return failure(fmt::format("--listen {} is not HOST:PORT", s.opt.listen));
    std::string host = s.opt.listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(host.empty() ? "0.0.0.0" : host, ec);
    if (ec)
        return failure(fmt::format("--listen {}: {} is not an IP address", s.opt.listen, host));
    unsigned long port = 0;
    try {
        port = std::stoul(s.opt.listen.substr(colon + 1));
    } catch (...) {
        port = 70000;
    }
    if (port > 65535)
        return failure(fmt::format("--listen {}: bad port", s.opt.listen));
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
    s.acceptor.open(endpoint.protocol(), ec);
    if (!ec)
        s.acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec)
        s.acceptor.bind(endpoint, ec);
    if (!ec)
        s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
        return failure(fmt::format("cannot listen on {}: {}", s.opt.listen, ec.message()));
    log::info("reference control plane listening", "address", local_address(), "mtls",
              s.opt.mtls == cluster_mtls::shared ? "shared" : "pki", "version", s.opt.version, "config_hash",
              s.current->hashes.config, "bytes", s.current->json_bytes);
    return ok_v;
}

std::string reference_cp::local_address() const {
    boost::system::error_code ec;
    const auto ep = impl_->acceptor.local_endpoint(ec);
    if (ec)
        return "";
    return ep.address().is_v6() ? fmt::format("[{}]:{}", ep.address().to_string(), ep.port())
                                : fmt::format("{}:{}", ep.address().to_string(), ep.port());
}

asio::awaitable<void> reference_cp::run() {
    co_await (impl_->accept_loop() && impl_->watch_loop());
}

} // namespace lifeboat::protocol
