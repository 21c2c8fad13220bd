// `lifeboat storage put|get|ls|rm URL ...`: the operator's direct access to a store, with the
// agent's configuration and credentials (AWS_*, GCP_SERVICE_ACCOUNT, ... as the agent reads them).
// URLs: s3://bucket/key, gcs://bucket/key, azure://account/container/key, file:///dir/name.
#include "backends/store_factory.hpp"
#include "base/atomic_file.hpp"
#include "cli/command.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include <cstdio>
#include <functional>
#include <sys/stat.h>
#include <unistd.h>

// Named, not anonymous: the cli target is a unity build (see cli/CMakeLists.txt).
namespace lifeboat::cli::storage_command {

using namespace lifeboat;
namespace fs = std::filesystem;

cli::conf_options options;
std::string url_arg;
std::string file_arg;
std::string content_type;
bool if_absent = false;

int fail(const char* verb, const std::string& message) {
    std::fprintf(stderr, "lifeboat storage %s: %s\n", verb, message.c_str());
    return 1;
}

// Loads the configuration for its credentials, opens the store, runs `body` on it.
int with_store(const char* verb, const backends::storage_url& where,
               const std::function<boost::asio::awaitable<int>(backends::object_store&)>& body) {
    auto loaded = cli::load_config_or_report(options);
    if (!loaded)
        return 1;
    boost::asio::io_context io;
    auto store = backends::make_object_store(io.get_executor(), where, loaded->values.storage_env);
    if (!store)
        return fail(verb, store.error());
    int code = 1;
    boost::asio::co_spawn(
        io, [&]() -> boost::asio::awaitable<void> { code = co_await body(**store); }, boost::asio::detached);
    io.run();
    return code;
}

std::optional<backends::object_url> object_url_or_report(const char* verb, bool key_required) {
    auto parsed = backends::parse_object_url(url_arg);
    if (!parsed) {
        fail(verb, parsed.error());
        return std::nullopt;
    }
    if (key_required && parsed->key.empty()) {
        fail(verb, "storage URL \"" + url_arg +
                       "\" names no object (expected s3://bucket/key, gcs://bucket/key or "
                       "file:///dir/name)");
        return std::nullopt;
    }
    return std::move(parsed).value();
}

std::string guess_content_type(const std::string& path) {
    auto ends = [&](const char* suffix) {
        const std::string s(suffix);
        return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
    };
    if (ends(".json"))
        return "application/json";
    if (ends(".yaml") || ends(".yml"))
        return "application/yaml";
    if (ends(".gz"))
        return "application/gzip";
    if (ends(".txt"))
        return "text/plain";
    return "application/octet-stream";
}

int put_command() {
    auto target = object_url_or_report("put", true);
    if (!target)
        return 1;
    backends::body_source body;
    if (file_arg == "-") {
        std::string bytes;
        char buffer[65536];
        std::size_t n;
        while ((n = std::fread(buffer, 1, sizeof buffer, stdin)) > 0)
            bytes.append(buffer, n);
        if (std::ferror(stdin))
            return fail("put", "reading standard input failed");
        body = backends::body_source::from_string(std::move(bytes));
    } else {
        struct stat st {};
        if (::stat(file_arg.c_str(), &st) != 0)
            return fail("put", errno_message("stat", file_arg, errno));
        if (!S_ISREG(st.st_mode))
            return fail("put", file_arg + " is not a regular file");
        body = backends::body_source::from_file(file_arg);
    }
    backends::put_options put;
    put.content_type = content_type.empty() ? guess_content_type(file_arg) : content_type;
    if (if_absent)
        put.condition = backends::write_condition::if_absent;
    return with_store("put", target->store,
                      [&](backends::object_store& store) -> boost::asio::awaitable<int> {
                          auto r = co_await store.put(target->key, body, put);
                          if (!r)
                              co_return fail("put", r.error().to_string());
                          co_return 0;
                      });
}

int get_command() {
    auto source = object_url_or_report("get", true);
    if (!source)
        return 1;
    return with_store(
        "get", source->store, [&](backends::object_store& store) -> boost::asio::awaitable<int> {
            if (file_arg == "-") {
                auto r = co_await store.get(source->key, std::size_t(4) << 30);
                if (!r)
                    co_return fail("get", r.error().to_string());
                if (std::fwrite(r->bytes.data(), 1, r->bytes.size(), stdout) != r->bytes.size() ||
                    std::fflush(stdout) != 0)
                    co_return fail("get", "writing to standard output failed");
                co_return 0;
            }
            auto r = co_await store.get_to_file(source->key, file_arg);
            if (!r)
                co_return fail("get", r.error().to_string());
            co_return 0;
        });
}

int ls_command() {
    auto where = object_url_or_report("ls", false);
    if (!where)
        return 1;
    // file:///dir lists the folder itself, whether or not the URL ends in '/'.
    if (where->store.kind == backends::store_kind::file && !where->key.empty()) {
        std::error_code ec;
        const auto named = where->store.path / where->key;
        if (fs::is_directory(named, ec)) {
            where->store.path = named;
            where->key.clear();
        }
    }
    return with_store("ls", where->store, [&](backends::object_store& store) -> boost::asio::awaitable<int> {
        auto r = co_await store.list(where->key);
        if (!r)
            co_return fail("ls", r.error().to_string());
        std::string out;
        for (const auto& o : *r) {
            out += o.key;
            out.push_back('\n');
        }
        if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0)
            co_return fail("ls", "writing to standard output failed");
        co_return 0;
    });
}

int rm_command() {
    auto target = object_url_or_report("rm", true);
    if (!target)
        return 1;
    return with_store("rm", target->store, [&](backends::object_store& store) -> boost::asio::awaitable<int> {
        auto r = co_await store.remove(target->key);
        if (!r)
            co_return fail("rm", r.error().to_string());
        co_return 0;
    });
}

const cli::command_registration reg{
    60, [](CLI::App& root) {
        auto* storage = root.add_subcommand(
            "storage", "Read and write objects in S3, GCS, Azure Blob Storage or a local folder with the "
                       "agent's configuration and "
                       "credentials. URLs: s3://bucket/key, gcs://bucket/key, azure://account/container/key, "
                       "file:///dir/name. Exit 1 on failure");
        storage->require_subcommand(1);

        auto* put = storage->add_subcommand("put", "Upload FILE (or - for stdin) to URL");
        cli::add_conf_options(*put, options);
        put->add_option("url", url_arg, "Object URL")->required();
        put->add_option("file", file_arg, "File to upload, or - for stdin")->required();
        put->add_option("--content-type", content_type, "Content type (default: from the file name)");
        put->add_flag("--if-absent", if_absent, "Create only: fail if the object exists");
        put->callback([] { cli::set_exit_code(put_command()); });

        auto* get =
            storage->add_subcommand("get", "Download URL to FILE (replaced atomically) or - for stdout");
        cli::add_conf_options(*get, options);
        get->add_option("url", url_arg, "Object URL")->required();
        get->add_option("file", file_arg, "Target file, or - for stdout")->required();
        get->callback([] { cli::set_exit_code(get_command()); });

        auto* ls = storage->add_subcommand(
            "ls",
            "List keys under URL, one per line, in key order (s3/gcs: the URL's key is a prefix and keys "
            "print whole; file: keys print relative to the folder the URL names)");
        cli::add_conf_options(*ls, options);
        ls->add_option("url", url_arg, "Bucket or folder URL, with an optional key prefix")->required();
        ls->callback([] { cli::set_exit_code(ls_command()); });

        auto* rm =
            storage->add_subcommand("rm", "Delete the object at URL (a missing object is not an error)");
        cli::add_conf_options(*rm, options);
        rm->add_option("url", url_arg, "Object URL")->required();
        rm->callback([] { cli::set_exit_code(rm_command()); });
    }};

} // namespace lifeboat::cli::storage_command
