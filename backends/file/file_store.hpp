// The `file:///dir` object store: a local directory shared by every lifeboat process on one
// machine (the embedded default, and the store for demos and tests).
//
// Layout: key "a/b/c.json" is the file <root>/a/b/c.json, so an operator can read the backup
// with `cat`. Each object's version token, content type and user metadata live in one extended
// attribute (user.lifeboat.object, JSON) that is set on the temporary file before it is renamed
// into place, so content and metadata change together in one rename(2). Files placed by hand
// (without the attribute) are still objects: their version is derived from inode, mtime and size.
//
// Concurrency (threads and processes): every write or remove takes flock(2) on the hidden file
// `.lifeboat.lock` in the object's directory, checks its condition and renames (or links, for
// create-if-absent) while holding it. Readers take no lock: they open the file and read content
// and attribute from the same descriptor, which keeps one consistent version. The lock lives
// next to the object, not at the store root, so two stores opened on different roots that name
// the same file (the CLI opens the parent directory) still exclude each other.
//
// Limits, by design: keys are relative paths without empty, "." or ".." segments and without
// segments starting with '.' (reserved for temporary and lock files); a key cannot be both an
// object and a folder ("a" and "a/b"); user metadata is limited to 2 KiB as on S3; the filesystem
// must support user extended attributes (ext4, xfs, btrfs, tmpfs on Linux >= 6.6). Directories
// left empty by remove() are kept (removing them would race with a concurrent put). The I/O is
// synchronous on the calling thread: fine for configs of a few MiB on a local disk.
#pragma once

#include "backends/object_store.hpp"

#include <filesystem>
#include <memory>
#include <string_view>

namespace lifeboat::backends {

// `root` must be absolute. Nothing is touched until the first operation; writes create the
// directories they need.
std::unique_ptr<object_store> make_file_store(std::filesystem::path root);

// Why `key` cannot name a file under the root, or an empty string when it can.
std::string file_key_problem(std::string_view key);

} // namespace lifeboat::backends
