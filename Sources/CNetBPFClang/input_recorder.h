// Records every file a clang run looks at: what it read (with the file's identity) and what it
// looked for and did not find. This is what the compile cache keys an object by.
#pragma once
#include <llvm/ADT/StringMap.h>
#include <llvm/Support/VirtualFileSystem.h>

#include <string>
#include <vector>

namespace netbpf {

struct InputRecord {
    std::string path;
    /// nb_file_identity of the file as clang found it; empty when the path did not exist.
    /// "changed" when the file was seen in two different states during the run.
    std::string identity;
};

/// A file system for clang's FileManager that passes every call to the real one and notes
/// each path clang stats or opens. clang's header search goes through it for every directory
/// on the search path, so the notes hold the paths tried before the one found (`#include`,
/// `#include_next`, `#include MACRO`, `__has_include` alike), the files read, and, for a PCH,
/// the files it was built from (validated by stat). Directories that exist are not noted:
/// their mtime changes with every file created in them.
class InputRecorder final : public llvm::vfs::ProxyFileSystem {
public:
    /// `mainFile` (the source, handed to clang from memory) is left out.
    InputRecorder(llvm::IntrusiveRefCntPtr<llvm::vfs::FileSystem> fs, std::string mainFile)
        : ProxyFileSystem(std::move(fs)), mainFile(std::move(mainFile)) {}

    llvm::ErrorOr<llvm::vfs::Status> status(const llvm::Twine &path) override;
    llvm::ErrorOr<std::unique_ptr<llvm::vfs::File>> openFileForRead(const llvm::Twine &path) override;

    /// In the order clang first looked at them.
    std::vector<InputRecord> records;

private:
    void note(const std::string &path, const llvm::vfs::Status *found);
    std::string mainFile;
    llvm::StringMap<size_t> index; // path -> position in records
};

} // namespace netbpf
