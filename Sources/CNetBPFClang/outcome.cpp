#include "outcome.h"

#include <cstdint>
#include <cstring>

namespace netbpf {

namespace {

struct Writer {
    std::string out;
    void u32(uint32_t v) { out.append(reinterpret_cast<const char *>(&v), sizeof v); }
    void str(const std::string &s) {
        u64(s.size());
        out += s;
    }
    void u64(uint64_t v) { out.append(reinterpret_cast<const char *>(&v), sizeof v); }
};

struct Reader {
    llvm::StringRef in;
    bool failed = false;
    template <typename T> T num() {
        T v{};
        if (in.size() < sizeof v) {
            failed = true;
            return v;
        }
        std::memcpy(&v, in.data(), sizeof v);
        in = in.drop_front(sizeof v);
        return v;
    }
    std::string str() {
        uint64_t n = num<uint64_t>();
        if (failed || n > in.size()) {
            failed = true;
            return {};
        }
        std::string s = in.take_front(n).str();
        in = in.drop_front(n);
        return s;
    }
};

} // namespace

std::string encode(const Outcome &o) {
    Writer w;
    w.out.reserve(o.object.size() + 256 * o.diags.size() + 64);
    w.u32(o.ok);
    w.str(o.internalError);
    w.u32(o.numErrors);
    w.u32(o.pchFailed);
    w.str(o.pchFailure);
    w.str(o.object);
    w.u64(o.diags.size());
    for (const DiagRecord &d : o.diags) {
        w.u32(uint32_t(d.severity));
        w.u32(d.hasLocation);
        w.str(d.file);
        w.u32(d.line);
        w.u32(d.column);
        w.str(d.message);
        w.u32(d.hasSourceLine);
        w.str(d.sourceLine);
        w.str(d.flag);
    }
    w.u64(o.inputs.size());
    for (const InputRecord &i : o.inputs) {
        w.str(i.path);
        w.str(i.identity);
    }
    return std::move(w.out);
}

bool decode(llvm::StringRef bytes, Outcome &o) {
    Reader r{bytes};
    o.ok = r.num<uint32_t>();
    o.internalError = r.str();
    o.numErrors = r.num<uint32_t>();
    o.pchFailed = r.num<uint32_t>();
    o.pchFailure = r.str();
    o.object = r.str();
    uint64_t n = r.num<uint64_t>();
    if (r.failed || n > bytes.size()) return false;
    o.diags.resize(n);
    for (DiagRecord &d : o.diags) {
        d.severity = int(r.num<uint32_t>());
        d.hasLocation = r.num<uint32_t>();
        d.file = r.str();
        d.line = r.num<uint32_t>();
        d.column = r.num<uint32_t>();
        d.message = r.str();
        d.hasSourceLine = r.num<uint32_t>();
        d.sourceLine = r.str();
        d.flag = r.str();
    }
    n = r.num<uint64_t>();
    if (r.failed || n > bytes.size()) return false;
    o.inputs.resize(n);
    for (InputRecord &i : o.inputs) {
        i.path = r.str();
        i.identity = r.str();
    }
    return !r.failed && r.in.empty();
}

} // namespace netbpf
