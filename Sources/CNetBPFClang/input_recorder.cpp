#include "input_recorder.h"
#include "netbpf_clang.h"

#include <sys/stat.h>

namespace netbpf {

// The identity is taken with stat(2) (clang's Status has no ctime) and only trusted when it is
// the inode clang found: a file replaced in between is "changed", and no cache entry is kept.
void InputRecorder::note(const std::string &path, const llvm::vfs::Status *found) {
    if (path == mainFile) return;
    if (found && found->isDirectory()) return;
    std::string identity;
    if (found) {
        struct stat st;
        char buf[NB_FILE_IDENTITY_MAX];
        if (::stat(path.c_str(), &st) == 0 && st.st_dev == found->getUniqueID().getDevice() &&
            st.st_ino == found->getUniqueID().getFile()) {
            nb_file_identity(&st, buf, sizeof buf);
            identity = buf;
        } else {
            identity = "changed";
        }
    }
    auto [it, inserted] = index.try_emplace(path, records.size());
    if (inserted) {
        records.push_back({path, identity});
    } else if (records[it->second].identity != identity) {
        records[it->second].identity = "changed";
    }
}

llvm::ErrorOr<llvm::vfs::Status> InputRecorder::status(const llvm::Twine &path) {
    auto result = ProxyFileSystem::status(path);
    note(path.str(), result ? &*result : nullptr);
    return result;
}

llvm::ErrorOr<std::unique_ptr<llvm::vfs::File>> InputRecorder::openFileForRead(const llvm::Twine &path) {
    auto file = ProxyFileSystem::openFileForRead(path);
    if (!file) {
        note(path.str(), nullptr);
        return file;
    }
    auto st = (*file)->status(); // fstat of the descriptor clang reads from
    if (st) note(path.str(), &*st);
    return file;
}

} // namespace netbpf
