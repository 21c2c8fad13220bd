// The Azure store against Microsoft's Azurite (the ctest `azurite` fixture), as
// s3_store_rgw_test.cpp runs the S3 store against Ceph RGW: every object_store operation, List
// Blobs paging past 5,000 blobs, block uploads, conditional writes, bad input (a wrong key, a
// missing container, a SAS without write permission), and a body corrupted on the way, which
// Azurite refuses by its Content-MD5.
#include "backends/azure/azure_store.hpp"
#include "backends/probe.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "harness/azurite_store.hpp"
#include "harness/recording_sink.hpp"
#include "harness/test_env.hpp"
#include "s3/run_async.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <tuple>
#include <unistd.h>

using namespace lifeboat;
using namespace std::chrono_literals;
using backends::store_errc;
using test::random_bytes;
namespace fs = std::filesystem;

namespace {

azure::azure_options azurite_options(backends::store_environment env = test::azurite_store_environment()) {
    auto o = azure::azure_options::from_environment(test::azurite().account, test::azurite().container, env);
    EXPECT_TRUE(o.ok()) << o.error();
    return std::move(o).value();
}

// A loopback TCP relay in front of Azurite that flips the first body byte of every PUT with a
// body: corruption in transit, which Shared Key does not catch (it signs the headers, not the
// body) and the Content-MD5 of each Put Blob and Put Block does. Requests are parsed only as far
// as the relay needs: the request line and Content-Length (lifeboat never sends chunked bodies).
class corrupting_relay {
public:
    explicit corrupting_relay(unsigned short upstream_port) : upstream_port_(upstream_port) {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        if (::bind(listener_, reinterpret_cast<sockaddr*>(&a), len) != 0 || ::listen(listener_, 16) != 0 ||
            ::getsockname(listener_, reinterpret_cast<sockaddr*>(&a), &len) != 0)
            throw std::runtime_error(std::string("relay: ") + std::strerror(errno));
        port_ = ntohs(a.sin_port);
        acceptor_ = std::thread([this] { accept_loop(); });
    }
    ~corrupting_relay() {
        stopping_ = true;
        ::shutdown(listener_, SHUT_RDWR);
        {
            std::lock_guard lock(mutex_);
            for (int fd : open_)
                ::shutdown(fd, SHUT_RDWR);
        }
        acceptor_.join();
        for (auto& t : workers_)
            t.join();
        ::close(listener_);
        for (int fd : open_)
            ::close(fd);
    }
    unsigned short port() const { return port_; }
    int corrupted() const { return corrupted_; }

private:
    void accept_loop() {
        while (!stopping_) {
            const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (client < 0)
                return;
            const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in a{};
            a.sin_family = AF_INET;
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            a.sin_port = htons(upstream_port_);
            if (::connect(server, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
                ::close(client);
                ::close(server);
                continue;
            }
            std::lock_guard lock(mutex_);
            open_.push_back(client);
            open_.push_back(server);
            workers_.emplace_back([this, client, server] { requests(client, server); });
            workers_.emplace_back([client, server] { copy(server, client); });
        }
    }
    static bool send_all(int fd, const char* p, std::size_t n) {
        while (n > 0) {
            const ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
            if (w <= 0)
                return false;
            p += w;
            n -= static_cast<std::size_t>(w);
        }
        return true;
    }
    static void copy(int from, int to) {
        char buf[65536];
        for (ssize_t n; (n = ::recv(from, buf, sizeof buf, 0)) > 0;)
            if (!send_all(to, buf, static_cast<std::size_t>(n)))
                break;
        ::shutdown(to, SHUT_WR);
    }
    // Client to Azurite, request by request: headers as they are, the first body byte of a PUT
    // flipped, the rest of the body as it is.
    void requests(int client, int server) {
        std::string pending;
        char buf[65536];
        for (;;) {
            std::size_t end;
            while ((end = pending.find("\r\n\r\n")) == std::string::npos) {
                const ssize_t n = ::recv(client, buf, sizeof buf, 0);
                if (n <= 0) {
                    ::shutdown(server, SHUT_WR);
                    return;
                }
                pending.append(buf, static_cast<std::size_t>(n));
            }
            std::string head = pending.substr(0, end + 4);
            pending.erase(0, end + 4);
            std::string lower_head = head;
            for (auto& c : lower_head)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::uint64_t length = 0;
            if (auto at = lower_head.find("\r\ncontent-length:"); at != std::string::npos)
                length = std::strtoull(head.c_str() + at + 17, nullptr, 10);
            if (!send_all(server, head.data(), head.size()))
                return;
            bool flip = head.rfind("PUT ", 0) == 0 && length > 0;
            while (length > 0) {
                if (pending.empty()) {
                    const ssize_t n = ::recv(client, buf, std::min<std::uint64_t>(sizeof buf, length), 0);
                    if (n <= 0)
                        return;
                    pending.append(buf, static_cast<std::size_t>(n));
                }
                const std::size_t take = std::min<std::uint64_t>(pending.size(), length);
                if (flip) {
                    pending[0] = static_cast<char>(pending[0] ^ 0x01);
                    flip = false;
                    ++corrupted_;
                }
                if (!send_all(server, pending.data(), take))
                    return;
                pending.erase(0, take);
                length -= take;
            }
        }
    }

    unsigned short upstream_port_, port_ = 0;
    int listener_ = -1;
    std::atomic<bool> stopping_ = false;
    std::atomic<int> corrupted_ = 0;
    std::mutex mutex_;
    std::vector<int> open_;
    std::thread acceptor_;
    std::vector<std::thread> workers_;
};

struct azure_azurite : ::testing::Test {
    boost::asio::io_context ioc;
    fs::path dir = test::scratch_dir();
    std::string prefix = "azure-test/" + test::unique_suffix() + "/";

    std::unique_ptr<backends::object_store> store(azure::azure_options o = azurite_options()) {
        auto s = azure::make_azure_store(ioc.get_executor(), std::move(o));
        EXPECT_TRUE(s.ok()) << s.error();
        return std::move(s).value();
    }
    template <class T>
    T run(boost::asio::awaitable<T> a) {
        return test::run_async(ioc, std::move(a));
    }
};

} // namespace

TEST_F(azure_azurite, put_get_head_list_remove) {
    auto s = store();
    EXPECT_EQ(s->kind(), backends::store_kind::azure);
    EXPECT_EQ(s->describe(),
              "azure://devstoreaccount1/lifeboat-test at http://127.0.0.1:17500/devstoreaccount1");
    EXPECT_FALSE(s->last_server_date().has_value());

    backends::put_options po;
    po.content_type = "application/json";
    po.metadata = {{"uploader", "node-1"}, {"lifeboat-term", "7"}};
    const std::string body = R"({"config":true})";
    auto put = run(s->put(prefix + "config.json", backends::body_source::from_string(body), po));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_FALSE(put->etag.empty());
    EXPECT_EQ(put->etag.front() == '"', false);
    EXPECT_EQ(put->size, body.size());
    ASSERT_TRUE(s->last_server_date().has_value());
    EXPECT_LT(std::chrono::abs(*s->last_server_date() - wall_clock::now()), 60s);

    auto head = run(s->head(prefix + "config.json"));
    ASSERT_TRUE(head.ok()) << head.error().to_string();
    EXPECT_EQ(head->size, body.size());
    EXPECT_EQ(head->etag, put->etag);
    EXPECT_EQ(head->content_type, "application/json");
    EXPECT_EQ(head->metadata.at("uploader"), "node-1");
    EXPECT_EQ(head->metadata.at("lifeboat-term"), "7");
    EXPECT_LT(std::chrono::abs(head->last_modified - wall_clock::now()), 60s);

    auto get = run(s->get(prefix + "config.json"));
    ASSERT_TRUE(get.ok()) << get.error().to_string();
    EXPECT_EQ(get->bytes, body);
    EXPECT_EQ(get->info.metadata.at("lifeboat-term"), "7");
    EXPECT_EQ(get->info.etag, put->etag);

    auto small = run(s->get(prefix + "config.json", 4));
    ASSERT_FALSE(small.ok());
    EXPECT_EQ(small.error().code, store_errc::too_large);

    auto to_file = run(s->get_to_file(prefix + "config.json", dir / "copy.json"));
    ASSERT_TRUE(to_file.ok()) << to_file.error().to_string();
    EXPECT_EQ(read_whole_file(dir / "copy.json").value(), body);
    EXPECT_EQ(to_file->size, body.size());

    test::recording_sink sink;
    auto streamed = run(s->get_streamed(prefix + "config.json", 1 << 20, sink.sink()));
    ASSERT_TRUE(streamed.ok()) << streamed.error().to_string();
    EXPECT_EQ(sink.bytes, body);

    auto listed = run(s->list(prefix));
    ASSERT_TRUE(listed.ok()) << listed.error().to_string();
    ASSERT_EQ(listed->size(), 1u);
    EXPECT_EQ((*listed)[0].key, prefix + "config.json");
    EXPECT_EQ((*listed)[0].etag, put->etag);
    EXPECT_EQ((*listed)[0].size, body.size());
    EXPECT_EQ((*listed)[0].metadata.at("lifeboat-term"), "7");

    ASSERT_TRUE(run(s->remove(prefix + "config.json")).ok());
    auto gone = run(s->head(prefix + "config.json"));
    ASSERT_FALSE(gone.ok());
    EXPECT_EQ(gone.error().code, store_errc::not_found);
    auto missing = run(s->get(prefix + "config.json"));
    ASSERT_FALSE(missing.ok());
    EXPECT_EQ(missing.error().code, store_errc::not_found);
    EXPECT_EQ(missing.error().provider_code, "BlobNotFound");
    EXPECT_NE(
        missing.error().to_string().find("GET lifeboat-test/" + prefix + "config.json: 404 BlobNotFound"),
        std::string::npos)
        << missing.error().to_string();
    auto not_there = run(s->get_to_file(prefix + "config.json", dir / "never.json"));
    ASSERT_FALSE(not_there.ok());
    EXPECT_FALSE(fs::exists(dir / "never.json"));
    EXPECT_TRUE(run(s->remove(prefix + "config.json")).ok()) << "a missing blob is success";
    EXPECT_TRUE(run(s->list(prefix)).value().empty());
}

TEST_F(azure_azurite, metadata_names_azure_cannot_carry_are_refused_before_sending) {
    auto s = store();
    backends::put_options po;
    po.metadata = {{"has_underscore", "x"}};
    auto put = run(s->put(prefix + "m", backends::body_source::from_string("x"), po));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().code, store_errc::invalid_argument);
    EXPECT_NE(put.error().message.find("has_underscore"), std::string::npos) << put.error().message;
    po.metadata = {{"uploader", "n\xc3\xa9"}};
    auto non_ascii = run(s->put(prefix + "m", backends::body_source::from_string("x"), po));
    ASSERT_FALSE(non_ascii.ok());
    EXPECT_EQ(non_ascii.error().code, store_errc::invalid_argument);
    EXPECT_EQ(run(s->head(prefix + "m")).error().code, store_errc::not_found);
}

TEST_F(azure_azurite, conditional_writes_are_enforced) {
    auto s = store();
    const auto key = prefix + "election/term";
    backends::put_options create;
    create.condition = backends::write_condition::if_absent;
    auto first = run(s->put(key, backends::body_source::from_string("1"), create));
    ASSERT_TRUE(first.ok()) << first.error().to_string();
    auto second = run(s->put(key, backends::body_source::from_string("2"), create));
    ASSERT_FALSE(second.ok());
    EXPECT_EQ(second.error().code, store_errc::precondition_failed) << second.error().to_string();
    EXPECT_EQ(second.error().http_status, 409);
    EXPECT_EQ(second.error().provider_code, "BlobAlreadyExists");
    EXPECT_EQ(run(s->get(key)).value().bytes, "1");

    backends::put_options swap;
    swap.condition = backends::write_condition::if_match;
    swap.expected_version = first->etag;
    auto swapped = run(s->put(key, backends::body_source::from_string("3"), swap));
    ASSERT_TRUE(swapped.ok()) << swapped.error().to_string();
    EXPECT_NE(swapped->etag, first->etag);
    auto stale = run(s->put(key, backends::body_source::from_string("4"), swap)); // first's ETag again
    ASSERT_FALSE(stale.ok());
    EXPECT_EQ(stale.error().code, store_errc::precondition_failed);
    EXPECT_EQ(stale.error().http_status, 412);
    EXPECT_EQ(stale.error().provider_code, "ConditionNotMet");
    EXPECT_EQ(run(s->get(key)).value().bytes, "3");

    auto stale_delete = run(s->remove(key, first->etag));
    ASSERT_FALSE(stale_delete.ok());
    EXPECT_EQ(stale_delete.error().code, store_errc::precondition_failed);
    EXPECT_TRUE(run(s->head(key)).ok());
    ASSERT_TRUE(run(s->remove(key, swapped->etag)).ok());
    EXPECT_EQ(run(s->head(key)).error().code, store_errc::not_found);

    // The doctor's probe sees both conditions enforced.
    auto probe = run(backends::probe_conditional_writes_report(*s, prefix + "probe"));
    ASSERT_TRUE(probe.ok()) << probe.error().to_string();
    EXPECT_TRUE(probe->create_if_absent_enforced) << probe->detail;
    EXPECT_TRUE(probe->compare_and_swap_enforced) << probe->detail;
    EXPECT_TRUE(probe->cleaned_up) << probe->detail;
}

TEST_F(azure_azurite, large_files_go_up_in_blocks_streamed_and_conditionally) {
    auto o = azurite_options();
    o.single_put_limit = 2 << 20;
    o.block_size = 1 << 20;
    auto s = store(o);
    const auto bytes = random_bytes((5 << 20) + 12345, 7);
    { std::ofstream(dir / "big.bin", std::ios::binary) << bytes; }
    backends::put_options po;
    po.content_type = "application/x-test";
    po.metadata = {{"uploader", "node-2"}};
    po.condition = backends::write_condition::if_absent;
    const auto key = prefix + "big.bin";
    auto put = run(s->put(key, backends::body_source::from_file(dir / "big.bin"), po));
    ASSERT_TRUE(put.ok()) << put.error().to_string();
    EXPECT_EQ(put->size, bytes.size());
    auto again = run(s->put(key, backends::body_source::from_file(dir / "big.bin"), po));
    ASSERT_FALSE(again.ok());
    EXPECT_EQ(again.error().code, store_errc::precondition_failed);

    auto head = run(s->head(key));
    ASSERT_TRUE(head.ok());
    EXPECT_EQ(head->size, bytes.size());
    EXPECT_EQ(head->content_type, "application/x-test");
    EXPECT_EQ(head->metadata.at("uploader"), "node-2");
    EXPECT_EQ(head->etag, put->etag);
    auto got = run(s->get_to_file(key, dir / "back.bin"));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_EQ(sha256_hex(read_whole_file(dir / "back.bin", 64 << 20).value()), sha256_hex(bytes));

    // Microsoft's SDK reads the committed blob byte for byte.
    auto sdk = test::sdk({"get", test::azurite().container, key, (dir / "sdk.bin").string()});
    ASSERT_EQ(sdk.exit_code, 0) << sdk.err;
    EXPECT_EQ(sha256_hex(read_whole_file(dir / "sdk.bin", 64 << 20).value()), sha256_hex(bytes));
    // The committed blob carries the whole body's MD5 (x-ms-blob-content-md5 on Put Block List),
    // which lifeboat's downloads check, as for a single Put Blob.
    EXPECT_NE(sdk.out.find("\"md5\":\"" + base64_encode(md5(bytes)) + "\""), std::string::npos) << sdk.out;

    backends::put_options swap;
    swap.condition = backends::write_condition::if_match;
    swap.expected_version = "0x8DEADBEEF000000";
    auto lost = run(s->put(key, backends::body_source::from_file(dir / "big.bin"), swap));
    ASSERT_FALSE(lost.ok());
    EXPECT_EQ(lost.error().code, store_errc::precondition_failed);
}

TEST_F(azure_azurite, list_pages_past_five_thousand_blobs) {
    auto s = store();
    constexpr int count = 5003;
    int next = 0;
    std::optional<backends::store_error> error;
    auto worker = [&]() -> boost::asio::awaitable<void> {
        while (!error && next < count) {
            const int i = next++;
            // Named, not a braced temporary in the co_await: GCC 12 destroys those twice.
            backends::put_options plain;
            auto key = fmt::format("{}many/{:05}", prefix, i);
            auto r =
                co_await s->put(std::move(key), backends::body_source::from_string("x"), std::move(plain));
            if (!r)
                error = r.error();
        }
    };
    using namespace boost::asio::experimental::awaitable_operators;
    run([&]() -> boost::asio::awaitable<int> {
        co_await (worker() && worker() && worker() && worker() && worker() && worker() && worker() &&
                  worker());
        co_return 0;
    }());
    ASSERT_FALSE(error) << error->to_string();
    auto all = run(s->list(prefix + "many/"));
    ASSERT_TRUE(all.ok()) << all.error().to_string();
    ASSERT_EQ(all->size(), std::size_t(count));
    EXPECT_EQ(all->front().key, prefix + "many/00000");
    EXPECT_EQ(all->back().key, fmt::format("{}many/{:05}", prefix, count - 1));
    auto some = run(s->list(prefix + "many/", 5001));
    ASSERT_TRUE(some.ok());
    EXPECT_EQ(some->size(), 5001u);
}

TEST_F(azure_azurite, a_wrong_key_is_refused_in_one_line_with_azures_code) {
    auto env = test::azurite_store_environment();
    env.azure_storage_connection_string =
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" +
        base64_encode("not the key") + ";BlobEndpoint=" + test::azurite().endpoint;
    auto s = store(azurite_options(env));
    auto put = run(s->put(prefix + "x", backends::body_source::from_string("x"), {}));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().code, store_errc::bad_credentials);
    EXPECT_EQ(put.error().http_status, 403);
    // Azure says AuthenticationFailed; Azurite AuthorizationFailure, "Server failed to authenticate".
    EXPECT_TRUE(put.error().provider_code == "AuthenticationFailed" ||
                put.error().provider_code == "AuthorizationFailure")
        << put.error().provider_code;
    const auto line = put.error().to_string();
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    EXPECT_NE(line.find("403 " + put.error().provider_code), std::string::npos) << line;
    EXPECT_NE(line.find("wrong AZURE_STORAGE_KEY"), std::string::npos) << line;
    EXPECT_EQ(line.find(base64_encode("not the key")), std::string::npos) << "never the key: " << line;
    // A HEAD has no body: the code comes from x-ms-error-code.
    auto head = run(s->head(prefix + "x"));
    ASSERT_FALSE(head.ok());
    EXPECT_EQ(head.error().http_status, 403);
    EXPECT_EQ(head.error().provider_code, put.error().provider_code);
}

// Every verb is classed alike: a wrong key is bad credentials (Azurite's 403 AuthorizationFailure
// "Server failed to authenticate", which a HEAD carries only in its header and reason phrase),
// and a SAS lacking the one permission a verb needs is access denied (403
// AuthorizationPermissionMismatch), each in one line with Azure's code.
TEST_F(azure_azurite, every_verb_classes_a_wrong_key_and_a_missing_sas_permission_alike) {
    auto good = store();
    const auto key = prefix + "verbs";
    ASSERT_TRUE(run(good->put(key, backends::body_source::from_string("there"), {})).ok());
    using verb_call = std::function<std::optional<backends::store_error>(backends::object_store&)>;
    auto error_of = [](const auto& r) -> std::optional<backends::store_error> {
        if (r.ok())
            return std::nullopt;
        return r.error();
    };
    // Each verb, with the one SAS permission it needs left out of an otherwise full SAS
    // (create and write both allow a Put Blob, so both are left out for it).
    const std::vector<std::tuple<std::string, std::string, verb_call>> verbs{
        {"head", "acwdl", [&](auto& s) { return error_of(run(s.head(key))); }},
        {"get", "acwdl", [&](auto& s) { return error_of(run(s.get(key))); }},
        {"put", "rdl",
         [&](auto& s) { return error_of(run(s.put(key, backends::body_source::from_string("x"), {}))); }},
        {"list", "racwd", [&](auto& s) { return error_of(run(s.list(prefix))); }},
        {"delete", "racwl", [&](auto& s) { return error_of(run(s.remove(key))); }},
    };

    auto wrong_env = test::azurite_store_environment();
    wrong_env.azure_storage_connection_string =
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" +
        base64_encode("not the key") + ";BlobEndpoint=" + test::azurite().endpoint;
    auto wrong = store(azurite_options(wrong_env));
    for (const auto& [name, permissions, call] : verbs) {
        const auto e = call(*wrong);
        ASSERT_TRUE(e) << name << " with a wrong key succeeded";
        EXPECT_EQ(e->code, store_errc::bad_credentials) << name << ": " << e->to_string();
        EXPECT_EQ(e->http_status, 403) << name;
        EXPECT_TRUE(e->provider_code == "AuthenticationFailed" || e->provider_code == "AuthorizationFailure")
            << name << ": " << e->provider_code;
        const auto line = e->to_string();
        EXPECT_EQ(line.find('\n'), std::string::npos) << name << ": " << line;
        EXPECT_NE(line.find("403 " + e->provider_code), std::string::npos) << name << ": " << line;
        EXPECT_NE(line.find("wrong AZURE_STORAGE_KEY"), std::string::npos) << name << ": " << line;
    }

    for (const auto& [name, permissions, call] : verbs) {
        auto minted = test::sdk({"sas", test::azurite().container, permissions});
        ASSERT_EQ(minted.exit_code, 0) << minted.err;
        std::string token = minted.out;
        while (!token.empty() && token.back() == '\n')
            token.pop_back();
        backends::store_environment env;
        env.azure_storage_connection_string = "BlobEndpoint=" + test::azurite().endpoint + ";";
        env.azure_storage_sas_token = token;
        auto sas = store(azurite_options(env));
        const auto e = call(*sas);
        ASSERT_TRUE(e) << name << " with a SAS of \"" << permissions << "\" succeeded";
        EXPECT_EQ(e->code, store_errc::access_denied) << name << ": " << e->to_string();
        EXPECT_EQ(e->http_status, 403) << name;
        EXPECT_EQ(e->provider_code, "AuthorizationPermissionMismatch") << name << ": " << e->to_string();
        const auto line = e->to_string();
        EXPECT_EQ(line.find('\n'), std::string::npos) << name << ": " << line;
        EXPECT_EQ(line.find("sig="), line.find("sig=***")) << "the SAS signature never shows: " << line;
    }
    // Nothing above changed the blob.
    EXPECT_EQ(run(good->get(key)).value().bytes, "there");
}

TEST_F(azure_azurite, a_missing_container_is_named) {
    auto o = azurite_options();
    o.container = "no-such-container-" + test::unique_suffix().substr(0, 20);
    for (auto& c : o.container)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    auto s = store(o);
    auto put = run(s->put("k", backends::body_source::from_string("x"), {}));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().provider_code, "ContainerNotFound") << put.error().to_string();
    EXPECT_EQ(put.error().http_status, 404);
    const auto line = put.error().to_string(); // one line, naming the container and Azure's code
    EXPECT_EQ(line.find('\n'), std::string::npos) << line;
    EXPECT_NE(line.find(o.container), std::string::npos) << line;
    EXPECT_NE(line.find("ContainerNotFound"), std::string::npos) << line;
    auto listed = run(s->list(""));
    ASSERT_FALSE(listed.ok());
    EXPECT_EQ(listed.error().provider_code, "ContainerNotFound");
    auto removed = run(s->remove("k"));
    ASSERT_FALSE(removed.ok()) << "a missing container is not a missing blob";
}

TEST_F(azure_azurite, a_sas_token_reads_and_one_without_write_permission_cannot_write) {
    auto s = store();
    ASSERT_TRUE(run(s->put(prefix + "r", backends::body_source::from_string("readable"), {})).ok());

    auto read_only = test::sdk({"sas", test::azurite().container, "rl"});
    ASSERT_EQ(read_only.exit_code, 0) << read_only.err;
    std::string token = read_only.out;
    while (!token.empty() && token.back() == '\n')
        token.pop_back();
    backends::store_environment env;
    env.azure_storage_connection_string = "BlobEndpoint=" + test::azurite().endpoint + ";";
    env.azure_storage_sas_token = "?" + token;
    auto sas = store(azurite_options(env));
    auto got = run(sas->get(prefix + "r"));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_EQ(got->bytes, "readable");
    EXPECT_EQ(run(sas->list(prefix)).value().size(), 1u);
    auto put = run(sas->put(prefix + "w", backends::body_source::from_string("x"), {}));
    ASSERT_FALSE(put.ok());
    EXPECT_EQ(put.error().code, store_errc::access_denied) << put.error().to_string();
    EXPECT_EQ(put.error().http_status, 403);
    EXPECT_EQ(put.error().to_string().find('\n'), std::string::npos) << put.error().to_string();
    EXPECT_NE(put.error().to_string().find("403 AuthorizationPermissionMismatch"), std::string::npos)
        << put.error().to_string();
    EXPECT_EQ(put.error().to_string().find("sig="), put.error().to_string().find("sig=***"))
        << "the SAS signature never shows: " << put.error().to_string();

    auto write = test::sdk({"sas", test::azurite().container, "racwdl"});
    ASSERT_EQ(write.exit_code, 0) << write.err;
    token = write.out;
    while (!token.empty() && token.back() == '\n')
        token.pop_back();
    env.azure_storage_sas_token = token;
    auto writer = store(azurite_options(env));
    auto ok = run(writer->put(prefix + "w", backends::body_source::from_string("written"), {}));
    ASSERT_TRUE(ok.ok()) << ok.error().to_string();
    EXPECT_EQ(run(s->get(prefix + "w")).value().bytes, "written");
}

TEST_F(azure_azurite, a_body_corrupted_on_the_way_is_refused_by_its_content_md5) {
    auto direct = store();
    corrupting_relay relay(17500);
    auto o = azurite_options();
    o.endpoint = "http://127.0.0.1:" + std::to_string(relay.port()) + "/devstoreaccount1";
    o.single_put_limit = 1 << 20;
    o.block_size = 1 << 20;
    auto through = store(o);
    // Each way a body goes up: one Put Blob from memory, one from a file, and Put Blocks.
    const auto small = random_bytes(4096, 11);
    const auto big = random_bytes((3 << 20) + 17, 12);
    { std::ofstream(dir / "small.bin", std::ios::binary) << small; }
    { std::ofstream(dir / "big.bin", std::ios::binary) << big; }
    const std::vector<std::pair<std::string, backends::body_source>> bodies{
        {"memory", backends::body_source::from_string(small)},
        {"file", backends::body_source::from_file(dir / "small.bin")},
        {"blocks", backends::body_source::from_file(dir / "big.bin")}};
    for (const auto& [how, body] : bodies) {
        const auto key = prefix + "corrupted-" + how;
        const int before = relay.corrupted();
        auto put = run(through->put(key, body, {}));
        ASSERT_FALSE(put.ok()) << how << ": a corrupted body was stored";
        EXPECT_GT(relay.corrupted(), before) << how;
        EXPECT_EQ(put.error().http_status, 400) << put.error().to_string();
        // Azure answers 400 Md5Mismatch; Azurite 400 InvalidOperation "Provided contentMD5 doesn't match."
        const auto line = put.error().to_string();
        EXPECT_EQ(line.find('\n'), std::string::npos) << line;
        EXPECT_TRUE(put.error().provider_code == "Md5Mismatch" ||
                    line.find("contentMD5 doesn't match") != std::string::npos)
            << how << ": " << line;
        // Nothing was stored or committed.
        auto head = run(direct->head(key));
        ASSERT_FALSE(head.ok()) << how;
        EXPECT_EQ(head.error().code, store_errc::not_found) << how;
    }
    // The relay itself is sound: what it does not touch (a GET) goes through unharmed.
    ASSERT_TRUE(run(direct->put(prefix + "clean", backends::body_source::from_string(small), {})).ok());
    auto got = run(through->get(prefix + "clean"));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    EXPECT_EQ(got->bytes, small);
}
