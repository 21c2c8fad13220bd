#include "backends/file/file_store.hpp"

#include "base/atomic_file.hpp"
#include "base/digest.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <random>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <system_error>
#include <unistd.h>

namespace lifeboat::backends {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr const char* object_attribute = "user.lifeboat.object";
constexpr const char* lock_file_name = ".lifeboat.lock";
constexpr std::size_t max_metadata_bytes = 2048; // S3's limit, so a backup can move between stores
constexpr std::size_t copy_chunk = std::size_t(1) << 20;
constexpr std::size_t stream_chunk = std::size_t(256) << 10;

class unique_fd {
public:
    explicit unique_fd(int fd = -1) : fd_(fd) {}
    ~unique_fd() {
        if (fd_ >= 0)
            ::close(fd_);
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    void reset(int fd) {
        if (fd_ >= 0)
            ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_;
};

std::string new_version_token() {
    // 128 random bits: a version never repeats, so compare-and-swap has no ABA problem even when
    // the same bytes are written again (unlike an MD5 ETag).
    std::random_device rd;
    std::string raw(16, '\0');
    for (std::size_t i = 0; i < raw.size(); i += 4) {
        const auto v = rd();
        std::memcpy(raw.data() + i, &v, 4);
    }
    return to_hex(raw);
}

// What the extended attribute holds next to the content.
struct stored_attributes {
    std::string version;
    std::string content_type;
    std::map<std::string, std::string> metadata;
};

std::string encode_attributes(const stored_attributes& a) {
    json::object meta;
    for (const auto& [k, v] : a.metadata)
        meta[k] = v;
    json::object o;
    o["version"] = a.version;
    o["content_type"] = a.content_type;
    o["metadata"] = std::move(meta);
    return json::serialize(o);
}

std::optional<stored_attributes> decode_attributes(std::string_view text) {
    boost::system::error_code ec;
    auto v = json::parse(text, ec);
    if (ec || !v.is_object())
        return std::nullopt;
    const auto& o = v.as_object();
    stored_attributes a;
    auto str = [&](const char* name, std::string& out) {
        if (const auto* p = o.if_contains(name); p && p->is_string())
            out = std::string(p->as_string());
    };
    str("version", a.version);
    str("content_type", a.content_type);
    if (const auto* m = o.if_contains("metadata"); m && m->is_object())
        for (const auto& [k, val] : m->as_object())
            if (val.is_string())
                a.metadata.emplace(std::string(k), std::string(val.as_string()));
    if (a.version.empty())
        return std::nullopt;
    return a;
}

wall_clock::time_point mtime_of(const struct stat& st) {
    const auto since_epoch =
        std::chrono::seconds(st.st_mtim.tv_sec) + std::chrono::nanoseconds(st.st_mtim.tv_nsec);
    return wall_clock::time_point(std::chrono::duration_cast<wall_clock::duration>(since_epoch));
}

bool metadata_name_ok(std::string_view name) {
    if (name.empty())
        return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
               c == '_' || c == '.';
    });
}

std::string lower(std::string s) {
    for (char& c : s)
        if (c >= 'A' && c <= 'Z')
            c = static_cast<char>(c - 'A' + 'a');
    return s;
}

// Problems with the complete segments of a key or a list prefix.
std::string segment_problem(std::string_view segment) {
    if (segment.empty())
        return "has an empty segment (\"//\")";
    if (segment == "." || segment == "..")
        return fmt::format("has a '{}' segment", segment);
    if (segment.front() == '.')
        return "has a segment starting with '.' (reserved for the file store's temporary and lock files)";
    if (segment.size() > 255)
        return "has a segment longer than 255 bytes";
    return {};
}

class file_store final : public object_store {
public:
    explicit file_store(fs::path root) : root_(std::move(root)) {}

    store_kind kind() const override { return store_kind::file; }
    std::string describe() const override { return "file://" + root_.string(); }

    boost::asio::awaitable<store_result<object_info>> head(std::string key) override {
        const auto op = operation("HEAD", key);
        if (auto problem = file_key_problem(key); !problem.empty())
            co_return invalid(op, key, problem);
        unique_fd fd;
        struct stat st {};
        if (auto r = open_object(op, key, fd, st); !r)
            co_return failure{r.error()};
        co_return read_info(op, key, fd.get(), st);
    }

    boost::asio::awaitable<store_result<object_data>> get(std::string key, std::size_t max_size) override {
        const auto op = operation("GET", key);
        unique_fd fd;
        auto info = open_for_reading(op, key, max_size, fd);
        if (!info)
            co_return failure{info.error()};
        object_data out{std::move(info).value(), {}};
        out.bytes.resize(out.info.size);
        std::size_t got = 0;
        while (got < out.bytes.size()) {
            const ssize_t n =
                ::pread(fd.get(), out.bytes.data() + got, out.bytes.size() - got, static_cast<off_t>(got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                co_return failure{io_error(op, "read", path_of(key), n < 0 ? errno : EIO)};
            got += static_cast<std::size_t>(n);
        }
        co_return out;
    }

    boost::asio::awaitable<store_result<object_info>> get_streamed(std::string key, std::uint64_t max_size,
                                                                   object_sink sink) override {
        const auto op = operation("GET", key);
        unique_fd fd;
        auto info = open_for_reading(op, key, max_size, fd);
        if (!info)
            co_return failure{info.error()};
        if (sink.start)
            sink.start(info->size);
        // Pieces of the size a network read gives, so the caller works on each while it is in cache.
        std::string buffer(stream_chunk, '\0');
        std::uint64_t delivered = 0;
        for (;;) {
            const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                co_return failure{io_error(op, "read", path_of(key), errno)};
            if (n == 0)
                break;
            delivered += static_cast<std::uint64_t>(n);
            if (delivered > info->size)
                break; // it grew while being read: reported below
            if (auto refused = sink.write
                                   ? sink.write(std::string_view(buffer.data(), static_cast<std::size_t>(n)))
                                   : std::nullopt)
                co_return failure{store_error{store_errc::local_io, 0, "", *refused, op}};
        }
        if (delivered != info->size)
            co_return failure{
                store_error{store_errc::local_io, 0, "",
                            fmt::format("{} changed size while being read", path_of(key).string()), op}};
        co_return info;
    }

    boost::asio::awaitable<store_result<object_info>> get_to_file(std::string key, fs::path target) override {
        // The streamed read into a temporary file, which replaces `target` only when complete.
        const auto op = operation("GET", key);
        atomic_file_writer out;
        if (auto r = out.open(target); !r)
            co_return failure{store_error{store_errc::local_io, 0, "", r.error(), op}};
        backends::object_sink sink;
        sink.write = [&out](std::string_view bytes) -> std::optional<std::string> {
            if (auto r = out.write(bytes); !r)
                return r.error();
            return std::nullopt;
        };
        auto info = co_await get_streamed(std::move(key), std::numeric_limits<std::uint64_t>::max(), sink);
        if (!info)
            co_return failure{info.error()};
        if (auto r = out.commit(); !r)
            co_return failure{store_error{store_errc::local_io, 0, "", r.error(), op}};
        co_return info;
    }

    boost::asio::awaitable<store_result<object_info>> put(std::string key, body_source body,
                                                          put_options options) override {
        const auto op = operation("PUT", key);
        if (auto problem = file_key_problem(key); !problem.empty())
            co_return invalid(op, key, problem);
        if (options.condition == write_condition::if_match && options.expected_version.empty())
            co_return failure{store_error{store_errc::invalid_argument, 0, "",
                                          "if_match needs the expected version of the object", op}};
        stored_attributes attributes;
        attributes.version = new_version_token();
        attributes.content_type =
            options.content_type.empty() ? "application/octet-stream" : options.content_type;
        std::size_t metadata_bytes = 0;
        for (const auto& [name, value] : options.metadata) {
            if (!metadata_name_ok(name))
                co_return failure{store_error{store_errc::invalid_argument, 0, "",
                                              fmt::format("metadata name \"{}\" is not a token", name), op}};
            metadata_bytes += name.size() + value.size();
            attributes.metadata[lower(name)] = value;
        }
        if (metadata_bytes > max_metadata_bytes)
            co_return failure{store_error{store_errc::invalid_argument, 0, "",
                                          fmt::format("user metadata is {} bytes, over the limit of {}",
                                                      metadata_bytes, max_metadata_bytes),
                                          op}};

        const fs::path path = path_of(key);
        const fs::path dir = path.parent_path();
        if (auto r = make_folders(op, key, dir); !r)
            co_return failure{r.error()};

        // Content and attribute go into a temporary file (invisible to list: its name starts with
        // '.') and are flushed before the lock is taken, so the lock is held only for the check
        // and the rename.
        atomic_file_writer out;
        if (auto r = out.open(path); !r)
            co_return failure{store_error{store_errc::local_io, 0, "", r.error(), op}};
        auto written = write_body(op, body, out);
        if (!written)
            co_return failure{written.error()};
        const auto encoded = encode_attributes(attributes);
        if (::fsetxattr(out.fd(), object_attribute, encoded.data(), encoded.size(), 0) != 0) {
            const int err = errno;
            if (err == ENOTSUP)
                co_return failure{store_error{
                    store_errc::local_io, 0, "",
                    fmt::format(
                        "the filesystem of {} does not support user extended attributes, which the file "
                        "store needs to keep versions and metadata with each object",
                        dir.string()),
                    op}};
            co_return failure{io_error(op, "set attribute on", out.temp_path(), err)};
        }
        if (::fsync(out.fd()) != 0)
            co_return failure{io_error(op, "fsync", out.temp_path(), errno)};

        auto lock = lock_folder(op, dir);
        if (!lock)
            co_return failure{lock.error()};

        if (options.condition == write_condition::if_absent) {
            struct stat st {};
            if (::lstat(path.c_str(), &st) == 0)
                co_return precondition_failed(op, "the object already exists");
        } else if (options.condition == write_condition::if_match) {
            auto current = current_version(op, key);
            if (!current)
                co_return failure{current.error()};
            if (current->empty())
                co_return precondition_failed(op, "the object does not exist");
            if (*current != options.expected_version)
                co_return precondition_failed(op, "the object's version has changed");
        }

        const bool exclusive = options.condition == write_condition::if_absent;
        if (auto r = out.commit(exclusive); !r) {
            struct stat st {};
            const bool exists = ::lstat(path.c_str(), &st) == 0;
            if (exclusive && exists) // a writer that does not take the lock got there first
                co_return precondition_failed(op, "the object already exists");
            if (exists && S_ISDIR(st.st_mode))
                co_return invalid(op, key, "is a folder of other objects, so it cannot also be an object");
            co_return failure{store_error{store_errc::local_io, 0, "", r.error(), op}};
        }

        object_info info;
        info.key = key;
        info.size = *written;
        info.etag = attributes.version;
        info.content_type = attributes.content_type;
        info.metadata = std::move(attributes.metadata);
        struct stat st {};
        info.last_modified = ::stat(path.c_str(), &st) == 0 ? mtime_of(st) : wall_clock::now();
        co_return info;
    }

    boost::asio::awaitable<store_result<void>> remove(std::string key,
                                                      std::string expected_version) override {
        const auto op = operation("DELETE", key);
        if (auto problem = file_key_problem(key); !problem.empty())
            co_return invalid(op, key, problem);
        const fs::path path = path_of(key);
        const fs::path dir = path.parent_path();
        std::error_code ec;
        if (!fs::is_directory(dir, ec))
            co_return ok_v; // nothing there: a missing key is success
        auto lock = lock_folder(op, dir);
        if (!lock)
            co_return failure{lock.error()};
        if (!expected_version.empty()) {
            auto current = current_version(op, key);
            if (!current)
                co_return failure{current.error()};
            if (current->empty())
                co_return ok_v;
            if (*current != expected_version)
                co_return precondition_failed(op, "the object's version has changed");
        }
        if (::unlink(path.c_str()) != 0) {
            const int err = errno;
            if (err == ENOENT)
                co_return ok_v;
            if (err == EISDIR)
                co_return invalid(op, key, "is a folder, not an object");
            co_return failure{io_error(op, "remove", path, err)};
        }
        if (auto r = fsync_directory(dir); !r)
            co_return failure{store_error{store_errc::local_io, 0, "", r.error(), op}};
        co_return ok_v;
    }

    boost::asio::awaitable<store_result<std::vector<object_info>>> list(std::string prefix,
                                                                        std::size_t max_keys) override {
        const auto op = operation("LIST", prefix);
        if (!prefix.empty() && prefix.front() == '/')
            co_return invalid(op, prefix, "is absolute (keys are relative to the store's folder)");
        if (prefix.find('\0') != std::string::npos)
            co_return invalid(op, prefix, "contains a NUL byte");
        // Complete segments name folders that must stay inside the root; the last, partial
        // segment only filters names (but may not be "." or ".." either).
        const auto last_slash = prefix.rfind('/');
        const std::string folder =
            last_slash == std::string::npos ? std::string() : prefix.substr(0, last_slash);
        if (!folder.empty()) {
            std::string_view rest = folder;
            while (true) {
                const auto slash = rest.find('/');
                if (auto problem = segment_problem(rest.substr(0, slash)); !problem.empty())
                    co_return invalid(op, prefix, problem);
                if (slash == std::string_view::npos)
                    break;
                rest.remove_prefix(slash + 1);
            }
        }
        const std::string_view tail = last_slash == std::string::npos
                                          ? std::string_view(prefix)
                                          : std::string_view(prefix).substr(last_slash + 1);
        if (tail == "." || tail == "..")
            co_return invalid(op, prefix, fmt::format("has a '{}' segment", tail));

        std::vector<std::string> keys;
        const std::string start_key = folder.empty() ? std::string() : folder + "/";
        if (auto r = collect_keys(op, start_key, prefix, keys); !r)
            co_return failure{r.error()};
        std::sort(keys.begin(), keys.end());

        std::vector<object_info> out;
        out.reserve(std::min(keys.size(), max_keys));
        for (const auto& key : keys) {
            if (out.size() >= max_keys)
                break;
            unique_fd fd;
            struct stat st {};
            auto opened = open_object(op, key, fd, st);
            if (!opened) {
                if (opened.error().code == store_errc::not_found)
                    continue; // removed since the folder was read
                co_return failure{opened.error()};
            }
            auto info = read_info(op, key, fd.get(), st);
            if (!info)
                co_return failure{info.error()};
            out.push_back(std::move(info).value());
        }
        co_return out;
    }

private:
    fs::path root_;

    fs::path path_of(std::string_view key) const { return root_ / fs::path(std::string(key)); }

    std::string operation(std::string_view verb, std::string_view key) const {
        return fmt::format("{} {}", verb, path_of(key).string());
    }

    static failure<store_error> invalid(const std::string& op, std::string_view key,
                                        std::string_view problem) {
        return failure{
            store_error{store_errc::invalid_argument, 0, "", fmt::format("key \"{}\" {}", key, problem), op}};
    }

    static failure<store_error> precondition_failed(const std::string& op, std::string message) {
        return failure{store_error{store_errc::precondition_failed, 0, "", std::move(message), op}};
    }

    static store_error io_error(const std::string& op, std::string_view what, const fs::path& path, int err) {
        store_errc code = store_errc::local_io;
        if (err == ENOENT || err == ENOTDIR)
            code = store_errc::not_found;
        else if (err == EACCES || err == EPERM || err == EROFS)
            code = store_errc::access_denied;
        return store_error{code, 0, "", errno_message(what, path, err), op};
    }

    // Opens an object for reading: a regular file, never a symbolic link (which could point
    // outside the root).
    store_result<void> open_object(const std::string& op, std::string_view key, unique_fd& fd,
                                   struct stat& st) const {
        const fs::path path = path_of(key);
        int raw = -1;
        do {
            raw = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
        } while (raw < 0 && errno == EINTR);
        if (raw < 0) {
            const int err = errno;
            if (err == ELOOP)
                return failure{store_error{
                    store_errc::local_io, 0, "",
                    fmt::format("{} is a symbolic link, which the file store does not follow", path.string()),
                    op}};
            if (err == ENOENT || err == ENOTDIR)
                return failure{store_error{store_errc::not_found, 0, "", "no such object", op}};
            return failure{io_error(op, "open", path, err)};
        }
        fd.reset(raw);
        if (::fstat(raw, &st) != 0)
            return failure{io_error(op, "stat", path, errno)};
        if (!S_ISREG(st.st_mode))
            return failure{store_error{store_errc::not_found, 0, "",
                                       fmt::format("{} is not a regular file", path.string()), op}};
        return ok_v;
    }

    // What every read starts with: the key checked, the object opened into `fd`, its metadata
    // read, its size within `max_size`.
    store_result<object_info> open_for_reading(const std::string& op, const std::string& key,
                                               std::uint64_t max_size, unique_fd& fd) const {
        if (auto problem = file_key_problem(key); !problem.empty())
            return invalid(op, key, problem);
        struct stat st {};
        if (auto r = open_object(op, key, fd, st); !r)
            return failure{r.error()};
        auto info = read_info(op, key, fd.get(), st);
        if (info && info->size > max_size)
            return failure{store_error{store_errc::too_large, 0, "",
                                       fmt::format("{} bytes is over the limit of {}", info->size, max_size),
                                       op}};
        return info;
    }

    store_result<object_info> read_info(const std::string& op, std::string_view key, int fd,
                                        const struct stat& st) const {
        object_info info;
        info.key = std::string(key);
        info.size = static_cast<std::uint64_t>(st.st_size);
        info.last_modified = mtime_of(st);
        info.content_type = "application/octet-stream";
        std::string buffer(512, '\0');
        for (;;) {
            const ssize_t n = ::fgetxattr(fd, object_attribute, buffer.data(), buffer.size());
            if (n >= 0) {
                buffer.resize(static_cast<std::size_t>(n));
                break;
            }
            const int err = errno;
            if (err == ERANGE) {
                const ssize_t need = ::fgetxattr(fd, object_attribute, nullptr, 0);
                if (need < 0)
                    return failure{io_error(op, "read attribute of", path_of(key), errno)};
                buffer.assign(static_cast<std::size_t>(need) + 1, '\0');
                continue;
            }
            if (err == ENODATA || err == ENOTSUP) {
                // A file put there by hand: derive a version that changes when the file is replaced
                // or rewritten in place.
                info.etag = fmt::format("{:x}-{}.{:09}-{}", st.st_ino, st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
                                        st.st_size);
                return info;
            }
            return failure{io_error(op, "read attribute of", path_of(key), err)};
        }
        auto attributes = decode_attributes(buffer);
        if (!attributes)
            return failure{store_error{
                store_errc::protocol, 0, "",
                fmt::format("the {} attribute of {} is not valid", object_attribute, path_of(key).string()),
                op}};
        info.etag = std::move(attributes->version);
        if (!attributes->content_type.empty())
            info.content_type = std::move(attributes->content_type);
        info.metadata = std::move(attributes->metadata);
        return info;
    }

    // The version of the object now, or an empty string when there is none. Called under the lock.
    store_result<std::string> current_version(const std::string& op, std::string_view key) const {
        unique_fd fd;
        struct stat st {};
        auto opened = open_object(op, key, fd, st);
        if (!opened) {
            if (opened.error().code == store_errc::not_found)
                return std::string();
            return failure{opened.error()};
        }
        auto info = read_info(op, key, fd.get(), st);
        if (!info)
            return failure{info.error()};
        return std::move(info->etag);
    }

    store_result<void> make_folders(const std::string& op, std::string_view key, const fs::path& dir) const {
        std::error_code ec;
        fs::create_directories(dir, ec);
        if (!ec)
            return ok_v;
        // Find the part of the key that is an object rather than a folder, for a useful error.
        for (fs::path p = dir; p != root_ && p.has_relative_path(); p = p.parent_path()) {
            struct stat st {};
            if (::lstat(p.c_str(), &st) == 0 && !S_ISDIR(st.st_mode))
                return invalid(op, key,
                               fmt::format("needs the folder {}, which is an object (a key cannot be both)",
                                           p.lexically_relative(root_).string()));
        }
        return failure{io_error(op, "create folder", dir, ec.value())};
    }

    // Holds flock(2) on the folder's lock file until destroyed (closing the descriptor releases it).
    store_result<std::unique_ptr<unique_fd>> lock_folder(const std::string& op, const fs::path& dir) const {
        const fs::path lock_path = dir / lock_file_name;
        int raw = -1;
        do {
            raw = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        } while (raw < 0 && errno == EINTR);
        if (raw < 0)
            return failure{io_error(op, "open lock file", lock_path, errno)};
        auto fd = std::make_unique<unique_fd>(raw);
        while (::flock(raw, LOCK_EX) != 0) {
            if (errno != EINTR)
                return failure{io_error(op, "lock", lock_path, errno)};
        }
        return fd;
    }

    store_result<std::uint64_t> write_body(const std::string& op, const body_source& body,
                                           atomic_file_writer& out) const {
        if (const auto* bytes = std::get_if<std::shared_ptr<const std::string>>(&body.data)) {
            const std::string_view view = *bytes ? std::string_view(**bytes) : std::string_view();
            if (auto r = out.write(view); !r)
                return failure{store_error{store_errc::local_io, 0, "", r.error(), op}};
            return static_cast<std::uint64_t>(view.size());
        }
        const auto& source = std::get<fs::path>(body.data);
        unique_fd in(::open(source.c_str(), O_RDONLY | O_CLOEXEC));
        if (!in.valid())
            return failure{
                store_error{store_errc::local_io, 0, "", errno_message("open", source, errno), op}};
        std::string buffer(copy_chunk, '\0');
        std::uint64_t total = 0;
        for (;;) {
            const ssize_t n = ::read(in.get(), buffer.data(), buffer.size());
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return failure{
                    store_error{store_errc::local_io, 0, "", errno_message("read", source, errno), op}};
            if (n == 0)
                return total;
            if (auto r = out.write(std::string_view(buffer.data(), static_cast<std::size_t>(n))); !r)
                return failure{store_error{store_errc::local_io, 0, "", r.error(), op}};
            total += static_cast<std::uint64_t>(n);
        }
    }

    // Walks the folder named by `start_key` ("" or "a/b/"), adding every object key that starts
    // with `prefix`. Hidden entries (temporary and lock files) are skipped, as are symbolic links
    // and folders that cannot hold a matching key.
    store_result<void> collect_keys(const std::string& op, const std::string& start_key,
                                    const std::string& prefix, std::vector<std::string>& keys) const {
        const fs::path dir = start_key.empty() ? root_ : path_of(start_key);
        std::error_code ec;
        fs::directory_iterator it(dir, ec);
        if (ec) {
            if (ec == std::errc::no_such_file_or_directory || ec == std::errc::not_a_directory)
                return ok_v;
            return failure{io_error(op, "read folder", dir, ec.value())};
        }
        for (; it != fs::directory_iterator(); it.increment(ec)) {
            if (ec)
                return failure{io_error(op, "read folder", dir, ec.value())};
            const std::string name = it->path().filename().string();
            if (name.empty() || name.front() == '.')
                continue;
            std::error_code type_ec;
            const auto status = it->symlink_status(type_ec);
            if (type_ec)
                continue; // vanished
            const std::string key = start_key + name;
            if (fs::is_regular_file(status)) {
                if (key.compare(0, prefix.size(), prefix) == 0)
                    keys.push_back(key);
            } else if (fs::is_directory(status)) {
                const std::string sub = key + "/";
                const auto n = std::min(sub.size(), prefix.size());
                if (sub.compare(0, n, prefix, 0, n) == 0)
                    if (auto r = collect_keys(op, sub, prefix, keys); !r)
                        return r;
            }
        }
        return ok_v;
    }
};

} // namespace

std::string file_key_problem(std::string_view key) {
    if (key.empty())
        return "is empty";
    if (key.find('\0') != std::string_view::npos)
        return "contains a NUL byte";
    if (key.front() == '/')
        return "is absolute (keys are relative to the store's folder)";
    if (key.back() == '/')
        return "ends with '/' (that names a folder, not an object)";
    std::string_view rest = key;
    while (true) {
        const auto slash = rest.find('/');
        if (auto problem = segment_problem(rest.substr(0, slash)); !problem.empty())
            return problem;
        if (slash == std::string_view::npos)
            return {};
        rest.remove_prefix(slash + 1);
    }
}

std::unique_ptr<object_store> make_file_store(std::filesystem::path root) {
    root = root.lexically_normal();
    if (!root.has_filename() && root.has_relative_path())
        root = root.parent_path(); // "/srv/backup/" -> "/srv/backup"
    return std::make_unique<file_store>(std::move(root));
}

} // namespace lifeboat::backends
