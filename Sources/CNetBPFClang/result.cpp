#include "result.h"

#include <cstdlib>
#include <cstring>

namespace netbpf {

static char *dup(const std::string &s) {
    char *p = static_cast<char *>(std::malloc(s.size() + 1));
    if (p) std::memcpy(p, s.c_str(), s.size() + 1);
    return p;
}

bool fillResult(nb_compile_result *out, const std::vector<DiagRecord> &diags,
                llvm::ArrayRef<char> object, const std::string &error, int pchStatus,
                const std::vector<InputRecord> &inputs) {
    *out = nb_compile_result{};
    out->pch_status = pchStatus;
    bool ok = true;
    if (!object.empty()) {
        out->object = static_cast<unsigned char *>(std::malloc(object.size()));
        if (out->object) {
            std::memcpy(out->object, object.data(), object.size());
            out->object_size = object.size();
        } else {
            ok = false;
        }
    }
    if (!diags.empty()) {
        out->diags = static_cast<nb_diag *>(std::calloc(diags.size(), sizeof(nb_diag)));
        if (out->diags) {
            out->ndiags = diags.size();
            for (size_t i = 0; i < diags.size(); i++) {
                const DiagRecord &d = diags[i];
                nb_diag &c = out->diags[i];
                c.severity = d.severity;
                c.message = dup(d.message);
                if (d.hasLocation) {
                    c.file = dup(d.file);
                    c.line = d.line;
                    c.column = d.column;
                }
                if (d.hasSourceLine) c.source_line = dup(d.sourceLine);
                if (!d.flag.empty()) c.flag = dup(d.flag);
            }
        } else {
            ok = false;
        }
    }
    if (!inputs.empty()) {
        out->inputs = static_cast<nb_input *>(std::calloc(inputs.size(), sizeof(nb_input)));
        if (out->inputs) {
            out->ninputs = inputs.size();
            for (size_t i = 0; i < inputs.size(); i++) {
                out->inputs[i].path = dup(inputs[i].path);
                if (!inputs[i].identity.empty()) out->inputs[i].identity = dup(inputs[i].identity);
            }
        } else {
            ok = false;
        }
    }
    if (!error.empty()) out->error = dup(error);
    return ok;
}

} // namespace netbpf
