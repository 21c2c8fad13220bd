#include "backends/file/file_store.hpp"

#include "backends/file/beneath.hpp"
#include "base/atomic_file.hpp"
#include "base/digest.hpp"
#include "base/offload.hpp"

#include <boost/json.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <dirent.h>
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
// How deep list() descends below the folder it starts from. Real keys are a few levels deep; a
// hostile chain thousands of folders deep is not walked (its files are not objects of ours).
constexpr int max_list_depth = 32;

using beneath::unique_fd;

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

// ("a/b", "c") for the key "a/b/c"; ("", "c") for "c".
std::pair<std::string, std::string> split_key(std::string_view key) {
    const auto slash = key.rfind('/');
    if (slash == std::string_view::npos)
        return {std::string(), std::string(key)};
    return {std::string(key.substr(0, slash)), std::string(key.substr(slash + 1))};
}

// A hidden temporary file in an open folder, renamed (or linked) over its final name once
// complete, removed if never committed. All of it relative to the folder's descriptor.
class temporary_file {
public:
    temporary_file(int dir_fd, std::string target) : dir_fd_(dir_fd), target_(std::move(target)) {}
    ~temporary_file() {
        if (!name_.empty())
            ::unlinkat(dir_fd_, name_.c_str(), 0);
    }
    temporary_file(const temporary_file&) = delete;
    temporary_file& operator=(const temporary_file&) = delete;

    // 0 or an errno.
    int create() {
        // A random suffix keeps concurrent writers apart; the leading dot keeps it out of listings.
        std::random_device rd;
        name_ = fmt::format(".{}.tmp-{:08x}", target_, rd());
        int fd = -1;
        do {
            fd = ::openat(dir_fd_, name_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        } while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            name_.clear();
            return errno;
        }
        fd_.reset(fd);
        return 0;
    }
    int write(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::write(fd_.get(), bytes.data(), bytes.size());
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                return errno;
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return 0;
    }
    // Makes the content visible under the final name (the caller fsynced it): rename(2), or with
    // `exclusive` link(2), which fails when the name exists. Then the folder is fsynced.
    int commit(bool exclusive) {
        fd_.reset(-1);
        if (exclusive) {
            if (::linkat(dir_fd_, name_.c_str(), dir_fd_, target_.c_str(), 0) != 0)
                return errno;
            ::unlinkat(dir_fd_, name_.c_str(), 0);
        } else if (::renameat(dir_fd_, name_.c_str(), dir_fd_, target_.c_str()) != 0) {
            return errno;
        }
        name_.clear();
        return ::fsync(dir_fd_) == 0 ? 0 : errno;
    }
    int fd() const { return fd_.get(); }
    const std::string& name() const { return name_; }

private:
    int dir_fd_;
    std::string target_;
    std::string name_;
    unique_fd fd_;
};

class file_store final : public object_store {
public:
    file_store(fs::path root, bool root_owned_links_only)
        : root_(std::move(root))
        , root_owned_links_only_(root_owned_links_only) {}

    store_kind kind() const override { return store_kind::file; }
    std::string describe() const override { return "file://" + root_.string(); }

    // Every operation runs on the disk pool (base/offload.hpp): a large object's write and fsync,
    // or a folder's fsync, never holds up the caller's event loop.
    boost::asio::awaitable<store_result<object_info>> head(std::string key) override {
        co_return co_await offload([&] { return head_now(key); });
    }

    boost::asio::awaitable<store_result<object_data>> get(std::string key, std::size_t max_size) override {
        co_return co_await offload([&] { return get_now(key, max_size); });
    }

    boost::asio::awaitable<store_result<object_info>> put(std::string key, body_source body,
                                                          put_options options) override {
        co_return co_await offload([&] { return put_now(key, body, options); });
    }

    boost::asio::awaitable<store_result<void>> remove(std::string key,
                                                      std::string expected_version) override {
        co_return co_await offload([&] { return remove_now(key, expected_version); });
    }

    boost::asio::awaitable<store_result<std::vector<object_info>>> list(std::string prefix,
                                                                        std::size_t max_keys) override {
        co_return co_await offload([&] { return list_now(prefix, max_keys); });
    }

    boost::asio::awaitable<store_result<object_info>> get_streamed(std::string key, std::uint64_t max_size,
                                                                   object_sink sink) override {
        // The reads on the disk pool, the sink on the caller's loop (it validates and keeps state).
        const auto op = operation("GET", key);
        unique_fd fd;
        auto info = co_await offload([&] { return open_for_reading(op, key, max_size, fd); });
        if (!info)
            co_return failure{info.error()};
        if (sink.start)
            sink.start(info->size);
        piece_reader reader(fd.get(), info->size);
        for (;;) {
            auto piece = co_await offload([&] { return reader.next(); });
            if (!piece)
                co_return failure{io_error(op, "read", path_of(key), piece.error())};
            if (piece->empty())
                break;
            if (auto refused = sink.write ? sink.write(*piece) : std::nullopt)
                co_return failure{store_error{store_errc::local_io, 0, "", *refused, op}};
            if (sink.ready)
                co_await sink.ready();
        }
        if (!reader.complete())
            co_return failure{changed_size(op, key)};
        co_return info;
    }

    boost::asio::awaitable<store_result<object_info>> get_to_file(std::string key, fs::path target) override {
        co_return co_await offload([&] { return get_to_file_now(key, target); });
    }

private:
    // An object opened by open_for_reading(), read in pieces of the size a network read gives (the
    // caller works on each while it is in cache); notices when the file changes size meanwhile.
    class piece_reader {
    public:
        piece_reader(int fd, std::uint64_t size) : fd_(fd), size_(size), buffer_(stream_chunk, '\0') {}
        // The next piece, empty at the end; or the errno of a failed read.
        result<std::string_view, int> next() {
            for (;;) {
                const ssize_t n = ::read(fd_, buffer_.data(), buffer_.size());
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0)
                    return failure{errno};
                delivered_ += static_cast<std::uint64_t>(n);
                if (n == 0 || delivered_ > size_)
                    return std::string_view(); // the end (or it grew while being read: complete() says)
                return std::string_view(buffer_.data(), static_cast<std::size_t>(n));
            }
        }
        bool complete() const { return delivered_ == size_; }

    private:
        int fd_;
        std::uint64_t size_;
        std::string buffer_;
        std::uint64_t delivered_ = 0;
    };

    store_error changed_size(const std::string& op, std::string_view key) const {
        return store_error{store_errc::local_io, 0, "",
                           fmt::format("{} changed size while being read", path_of(key).string()), op};
    }

    // The streamed read into a temporary file, which replaces `target` only when complete.
    store_result<object_info> get_to_file_now(const std::string& key, const fs::path& target) const {
        const auto op = operation("GET", key);
        atomic_file_writer out;
        if (auto r = out.open(target); !r)
            return failure{store_error{store_errc::local_io, 0, "", r.error(), op}};
        unique_fd fd;
        auto info = open_for_reading(op, key, std::numeric_limits<std::uint64_t>::max(), fd);
        if (!info)
            return failure{info.error()};
        piece_reader reader(fd.get(), info->size);
        for (;;) {
            auto piece = reader.next();
            if (!piece)
                return failure{io_error(op, "read", path_of(key), piece.error())};
            if (piece->empty())
                break;
            if (auto r = out.write(*piece); !r)
                return failure{store_error{store_errc::local_io, 0, "", r.error(), op}};
        }
        if (!reader.complete())
            return failure{changed_size(op, key)};
        if (auto r = out.commit(); !r)
            return failure{store_error{store_errc::local_io, 0, "", r.error(), op}};
        return info;
    }

    store_result<object_info> head_now(const std::string& key) const {
        const auto op = operation("HEAD", key);
        if (auto problem = file_key_problem(key); !problem.empty())
            return invalid(op, key, problem);
        unique_fd fd;
        struct stat st {};
        if (auto r = open_object(op, key, fd, st); !r)
            return failure{r.error()};
        return read_info(op, key, fd.get(), st);
    }
    store_result<object_data> get_now(const std::string& key, std::size_t max_size) const {
        const auto op = operation("GET", key);
        unique_fd fd;
        auto info = open_for_reading(op, key, max_size, fd);
        if (!info)
            return failure{info.error()};
        object_data out{std::move(info).value(), {}};
        out.bytes.resize(out.info.size);
        std::size_t got = 0;
        while (got < out.bytes.size()) {
            const ssize_t n =
                ::pread(fd.get(), out.bytes.data() + got, out.bytes.size() - got, static_cast<off_t>(got));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                return failure{io_error(op, "read", path_of(key), n < 0 ? errno : EIO)};
            got += static_cast<std::size_t>(n);
        }
        return out;
    }
    store_result<object_info> put_now(const std::string& key, const body_source& body,
                                      const put_options& options) const {
        const auto op = operation("PUT", key);
        if (auto problem = file_key_problem(key); !problem.empty())
            return invalid(op, key, problem);
        if (options.condition == write_condition::if_match && options.expected_version.empty())
            return failure{store_error{store_errc::invalid_argument, 0, "",
                                       "if_match needs the expected version of the object", op}};
        stored_attributes attributes;
        attributes.version = new_version_token();
        attributes.content_type =
            options.content_type.empty() ? "application/octet-stream" : options.content_type;
        std::size_t metadata_bytes = 0;
        for (const auto& [name, value] : options.metadata) {
            if (!metadata_name_ok(name))
                return failure{store_error{store_errc::invalid_argument, 0, "",
                                           fmt::format("metadata name \"{}\" is not a token", name), op}};
            metadata_bytes += name.size() + value.size();
            attributes.metadata[lower(name)] = value;
        }
        if (metadata_bytes > max_metadata_bytes)
            return failure{store_error{store_errc::invalid_argument, 0, "",
                                       fmt::format("user metadata is {} bytes, over the limit of {}",
                                                   metadata_bytes, max_metadata_bytes),
                                       op}};

        const fs::path path = path_of(key);
        const auto [folder, name] = split_key(key);
        auto dir = open_folder(op, key, folder, true);
        if (!dir)
            return failure{dir.error()};

        // Content and attribute go into a temporary file (invisible to list: its name starts with
        // '.') and are flushed before the lock is taken, so the lock is held only for the check
        // and the rename. Everything is relative to the folder's descriptor, which was reached
        // without following a link: nothing outside the root is ever written.
        temporary_file out(dir->get(), name);
        if (auto r = out.create(); r != 0)
            return failure{io_error(op, "create", path, r)};
        auto written = write_body(op, body, out);
        if (!written)
            return failure{written.error()};
        const auto encoded = encode_attributes(attributes);
        if (::fsetxattr(out.fd(), object_attribute, encoded.data(), encoded.size(), 0) != 0) {
            const int err = errno;
            if (err == ENOTSUP)
                return failure{store_error{
                    store_errc::local_io, 0, "",
                    fmt::format(
                        "the filesystem of {} does not support user extended attributes, which the file "
                        "store needs to keep versions and metadata with each object",
                        path.parent_path().string()),
                    op}};
            return failure{io_error(op, "set attribute on", path.parent_path() / out.name(), err)};
        }
        if (::fsync(out.fd()) != 0)
            return failure{io_error(op, "fsync", path.parent_path() / out.name(), errno)};
        struct stat written_stat {};
        const bool have_stat = ::fstat(out.fd(), &written_stat) == 0;

        auto lock = lock_folder(op, dir->get(), path.parent_path());
        if (!lock)
            return failure{lock.error()};

        if (options.condition == write_condition::if_absent) {
            struct stat st {};
            if (::fstatat(dir->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0)
                return precondition_failed(op, "the object already exists");
        } else if (options.condition == write_condition::if_match) {
            auto current = current_version(op, key);
            if (!current)
                return failure{current.error()};
            if (current->empty())
                return precondition_failed(op, "the object does not exist");
            if (*current != options.expected_version)
                return precondition_failed(op, "the object's version has changed");
        }

        const bool exclusive = options.condition == write_condition::if_absent;
        if (const int err = out.commit(exclusive); err != 0) {
            struct stat st {};
            const bool exists = ::fstatat(dir->get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
            if (exclusive && exists) // a writer that does not take the lock got there first
                return precondition_failed(op, "the object already exists");
            if (exists && S_ISDIR(st.st_mode))
                return invalid(op, key, "is a folder of other objects, so it cannot also be an object");
            return failure{io_error(op, exclusive ? "create" : "rename into", path, err)};
        }

        object_info info;
        info.key = key;
        info.size = *written;
        info.etag = attributes.version;
        info.content_type = attributes.content_type;
        info.metadata = std::move(attributes.metadata);
        info.last_modified = have_stat ? mtime_of(written_stat) : wall_clock::now();
        return info;
    }
    store_result<void> remove_now(const std::string& key, const std::string& expected_version) const {
        const auto op = operation("DELETE", key);
        if (auto problem = file_key_problem(key); !problem.empty())
            return invalid(op, key, problem);
        const fs::path path = path_of(key);
        const auto [folder, name] = split_key(key);
        auto dir = open_folder(op, key, folder, false);
        if (!dir) {
            const auto code = dir.error().code;
            if (code == store_errc::not_found || code == store_errc::invalid_argument)
                return ok_v; // nothing there (or an object where a folder would be): success
            return failure{dir.error()};
        }
        auto lock = lock_folder(op, dir->get(), path.parent_path());
        if (!lock)
            return failure{lock.error()};
        if (!expected_version.empty()) {
            auto current = current_version(op, key);
            if (!current)
                return failure{current.error()};
            if (current->empty())
                return ok_v;
            if (*current != expected_version)
                return precondition_failed(op, "the object's version has changed");
        }
        // unlinkat removes the entry itself (a link is removed, never what it points to), and
        // only in the folder reached without following links.
        if (::unlinkat(dir->get(), name.c_str(), 0) != 0) {
            const int err = errno;
            if (err == ENOENT)
                return ok_v;
            if (err == EISDIR)
                return invalid(op, key, "is a folder, not an object");
            return failure{io_error(op, "remove", path, err)};
        }
        if (::fsync(dir->get()) != 0)
            return failure{io_error(op, "fsync folder", path.parent_path(), errno)};
        return ok_v;
    }
    store_result<std::vector<object_info>> list_now(const std::string& prefix, std::size_t max_keys) const {
        const auto op = operation("LIST", prefix);
        if (!prefix.empty() && prefix.front() == '/')
            return invalid(op, prefix, "is absolute (keys are relative to the store's folder)");
        if (prefix.find('\0') != std::string::npos)
            return invalid(op, prefix, "contains a NUL byte");
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
                    return invalid(op, prefix, problem);
                if (slash == std::string_view::npos)
                    break;
                rest.remove_prefix(slash + 1);
            }
        }
        const std::string_view tail = last_slash == std::string::npos
                                          ? std::string_view(prefix)
                                          : std::string_view(prefix).substr(last_slash + 1);
        if (tail == "." || tail == "..")
            return invalid(op, prefix, fmt::format("has a '{}' segment", tail));

        std::vector<std::string> keys;
        const std::string start_key = folder.empty() ? std::string() : folder + "/";
        auto root = open_root(op, false);
        if (!root) {
            if (root.error().code == store_errc::not_found)
                return std::vector<object_info>{};
            return failure{root.error()};
        }
        {
            auto start = beneath::open_folder(root->get(), folder, false);
            if (!start) {
                if (start.error().err == ENOENT ||
                    (start.error().err == ENOTDIR && start.error().type == S_IFREG))
                    return std::vector<object_info>{};
                return failure{refused(op, start.error(), folder)};
            }
            collect_keys(start->get(), start_key, prefix, keys, 0);
        }
        std::sort(keys.begin(), keys.end());

        std::vector<object_info> out;
        out.reserve(std::min(keys.size(), max_keys));
        for (const auto& key : keys) {
            if (out.size() >= max_keys)
                break;
            unique_fd fd;
            struct stat st {};
            // An entry that cannot be read as an object (removed or replaced since the folder was
            // read, unreadable, an invalid attribute) is left out rather than failing the whole
            // listing: one odd file in a shared folder must not stop, say, every election round.
            if (!open_object(op, key, fd, st))
                continue;
            auto info = read_info(op, key, fd.get(), st);
            if (!info)
                continue;
            out.push_back(std::move(info).value());
        }
        return out;
    }

    fs::path root_;
    bool root_owned_links_only_;

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

    // The store's root folder. Its own path may go through links (the operator chose it).
    store_result<unique_fd> open_root(const std::string& op, bool create) const {
        auto root = beneath::open_root(root_, create, root_owned_links_only_);
        if (!root) {
            if (root.error().type != 0)
                return failure{refused(op, root.error(), {})};
            if (root.error().err == ENOENT)
                return failure{store_error{store_errc::not_found, 0, "", "no such object", op}};
            return failure{io_error(op, "open folder", root_, root.error().err)};
        }
        return std::move(root).value();
    }

    // One line naming the entry in the way and its type ("/b/3.6.0.0 is a symbolic link, ...").
    store_error refused(const std::string& op, const beneath::refusal& r, std::string_view relative) const {
        // (An entry in the root's own path is absolute, and operator/ keeps it as it is.)
        const fs::path entry = root_ / fs::path(r.entry.empty() ? std::string(relative) : r.entry);
        if (r.type == 0)
            return io_error(op, "open", entry, r.err);
        return store_error{store_errc::local_io, 0, "",
                           fmt::format("{} is {}; the file store opens only regular files and folders, and "
                                       "never follows a link",
                                       entry.string(), beneath::type_name(r.type)),
                           op};
    }

    // Opens the folder that holds `key` (`folder` relative to the root), creating it for writes.
    store_result<unique_fd> open_folder(const std::string& op, std::string_view key, std::string_view folder,
                                        bool create) const {
        auto root = open_root(op, create);
        if (!root)
            return failure{root.error()};
        auto dir = beneath::open_folder(root->get(), folder, create);
        if (dir)
            return std::move(dir).value();
        const auto& r = dir.error();
        if (r.type == S_IFREG)
            return invalid(
                op, key,
                fmt::format("needs the folder {}, which is an object (a key cannot be both)", r.entry));
        if (r.err == ENOENT && r.type == 0)
            return failure{store_error{store_errc::not_found, 0, "", "no such object", op}};
        return failure{refused(op, r, folder)};
    }

    // Opens an object for reading: a regular file reached without following a link at any level
    // and without blocking (a FIFO or device is refused, never waited on).
    store_result<void> open_object(const std::string& op, std::string_view key, unique_fd& fd,
                                   struct stat& st) const {
        auto root = open_root(op, false);
        if (!root)
            return failure{root.error()};
        auto opened = beneath::open_entry(root->get(), key, O_RDONLY);
        if (!opened) {
            const auto& r = opened.error();
            if (r.type == S_IFREG || ((r.err == ENOENT || r.err == ENOTDIR) && r.type == 0))
                return failure{store_error{store_errc::not_found, 0, "", "no such object", op}};
            return failure{refused(op, r, key)};
        }
        fd = std::move(opened).value();
        if (::fstat(fd.get(), &st) != 0)
            return failure{io_error(op, "stat", path_of(key), errno)};
        if (S_ISDIR(st.st_mode))
            return failure{store_error{store_errc::not_found, 0, "",
                                       fmt::format("{} is a folder, not an object", path_of(key).string()),
                                       op}};
        if (!S_ISREG(st.st_mode))
            return failure{refused(op, beneath::refusal{0, std::string(key), st.st_mode & S_IFMT}, key)};
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

    // Holds flock(2) on the folder's lock file until destroyed (closing the descriptor releases it).
    store_result<std::unique_ptr<unique_fd>> lock_folder(const std::string& op, int dir_fd,
                                                         const fs::path& dir) const {
        const fs::path lock_path = dir / lock_file_name;
        int raw = -1;
        do {
            raw = ::openat(dir_fd, lock_file_name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
                           0600);
        } while (raw < 0 && errno == EINTR);
        if (raw < 0) {
            if (errno == ELOOP)
                return failure{refused(op, beneath::refusal{ELOOP, "", S_IFLNK},
                                       lock_path.lexically_relative(root_).string())};
            return failure{io_error(op, "open lock file", lock_path, errno)};
        }
        auto fd = std::make_unique<unique_fd>(raw);
        struct stat st {};
        if (::fstat(raw, &st) != 0)
            return failure{io_error(op, "stat", lock_path, errno)};
        if (!S_ISREG(st.st_mode))
            return failure{refused(op, beneath::refusal{0, "", st.st_mode & S_IFMT},
                                   lock_path.lexically_relative(root_).string())};
        while (::flock(raw, LOCK_EX) != 0) {
            if (errno != EINTR)
                return failure{io_error(op, "lock", lock_path, errno)};
        }
        return fd;
    }

    store_result<std::uint64_t> write_body(const std::string& op, const body_source& body,
                                           temporary_file& out) const {
        if (const auto* bytes = std::get_if<std::shared_ptr<const std::string>>(&body.data)) {
            const std::string_view view = *bytes ? std::string_view(**bytes) : std::string_view();
            if (const int err = out.write(view); err != 0)
                return failure{io_error(op, "write", out.name(), err)};
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
            if (const int err = out.write(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
                err != 0)
                return failure{io_error(op, "write", out.name(), err)};
            total += static_cast<std::uint64_t>(n);
        }
    }

    // Walks the folder `dir_fd` (the key prefix `start_key`, "" or "a/b/"), adding every object
    // key that starts with `prefix`. Hidden entries (temporary and lock files) are skipped, as are
    // links, FIFOs and other non-files, folders that cannot hold a matching key, folders deeper
    // than max_list_depth and folders that cannot be read: an odd entry never fails a listing.
    void collect_keys(int dir_fd, const std::string& start_key, const std::string& prefix,
                      std::vector<std::string>& keys, int depth) const {
        const int own = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
        if (own < 0)
            return;
        DIR* d = ::fdopendir(own);
        if (d == nullptr) {
            ::close(own);
            return;
        }
        std::unique_ptr<DIR, int (*)(DIR*)> closer(d, ::closedir);
        while (const dirent* e = ::readdir(d)) {
            const std::string_view name = e->d_name;
            if (name.empty() || name.front() == '.')
                continue;
            unsigned char type = e->d_type;
            if (type == DT_UNKNOWN) {
                struct stat st {};
                if (::fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
                    continue; // vanished
                type = S_ISREG(st.st_mode) ? DT_REG : S_ISDIR(st.st_mode) ? DT_DIR : DT_UNKNOWN;
            }
            const std::string key = start_key + std::string(name);
            if (type == DT_REG) {
                if (key.compare(0, prefix.size(), prefix) == 0)
                    keys.push_back(key);
            } else if (type == DT_DIR && depth < max_list_depth) {
                const std::string sub = key + "/";
                const auto n = std::min(sub.size(), prefix.size());
                if (sub.compare(0, n, prefix, 0, n) != 0)
                    continue;
                int fd = -1;
                do {
                    fd = ::openat(dir_fd, e->d_name,
                                  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
                } while (fd < 0 && errno == EINTR);
                if (fd < 0)
                    continue; // unreadable, or replaced by something else since it was read
                unique_fd child(fd);
                collect_keys(child.get(), sub, prefix, keys, depth + 1);
            }
        }
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

std::unique_ptr<object_store> make_file_store(std::filesystem::path root, file_root_links links) {
    root = root.lexically_normal();
    if (!root.has_filename() && root.has_relative_path())
        root = root.parent_path(); // "/srv/backup/" -> "/srv/backup"
    return std::make_unique<file_store>(std::move(root), links == file_root_links::root_owned_only);
}

} // namespace lifeboat::backends
