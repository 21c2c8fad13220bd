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
// A hostile bucket (anyone who can write the folder): everything under the root is opened
// relative to the root's descriptor without following a link at any level, and only regular files
// are read, opened non-blocking (beneath.hpp). A link, FIFO, socket or device where an object or
// folder would be is refused in one line naming its path and type; list() leaves such entries out,
// as it does unreadable files and folders deeper than 32 levels.
//
// Limits, by design: keys are relative paths without empty, "." or ".." segments and without
// segments starting with '.' (reserved for temporary and lock files); a key cannot be both an
// object and a folder ("a" and "a/b"); user metadata is limited to 2 KiB as on S3; the filesystem
// must support user extended attributes (ext4, xfs, btrfs, tmpfs on Linux >= 6.6). Directories
// left empty by remove() are kept (removing them would race with a concurrent put). The blocking
// I/O runs on the disk pool (base/offload.hpp) and each operation resumes on the caller's executor;
// get_streamed() calls its sink there too, between reads.
#pragma once

#include "backends/object_store.hpp"

#include <filesystem>
#include <memory>
#include <string_view>

namespace lifeboat::backends {

// `root` must be absolute. Nothing is touched until the first operation; writes create the
// directories they need.
// Which links the path of the root itself may go through (nothing under the root is ever
// followed): any (a folder the operator configured), or only links owned by root (a folder
// derived from an object URL, whose last components may be entries of the bucket).
enum class file_root_links { any_owner, root_owned_only };
std::unique_ptr<object_store> make_file_store(std::filesystem::path root,
                                              file_root_links links = file_root_links::any_owner);

// Why `key` cannot name a file under the root, or an empty string when it can.
std::string file_key_problem(std::string_view key);

} // namespace lifeboat::backends
