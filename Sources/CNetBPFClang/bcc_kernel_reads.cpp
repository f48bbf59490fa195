// BCC mode's automatic kernel memory reads: bcc_kernel_reads.h says what and why.
#include "bcc_kernel_reads.h"

#include <clang/AST/ASTConsumer.h>
#include <clang/AST/ASTContext.h>
#include <clang/AST/Attr.h>
#include <clang/AST/RecordLayout.h>
#include <clang/AST/RecursiveASTVisitor.h>
#include <clang/Basic/Builtins.h>
#include <clang/Basic/TargetBuiltins.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Lex/Lexer.h>

#include <algorithm>
#include <map>
#include <set>
#include <vector>

using namespace clang;

namespace netbpf {
namespace {

/// Section prefixes of programs whose context holds kernel values (registers, tracepoint
/// records, raw tracepoint arguments) rather than a packet or a socket.
bool isTracingSection(llvm::StringRef s) {
    for (const char *p : {"kprobe", "kretprobe", "uprobe", "uretprobe", "tracepoint", "tp/", "raw_tracepoint", "raw_tp",
                          "perf_event", "usdt", "ksyscall", "kretsyscall"})
        if (s.startswith(p)) return true;
    return false;
}

/// Which values point into (or were read from) the kernel. Flow-insensitive, like BCC's
/// ProbeVisitor: a variable that is ever given a kernel value is a kernel pointer everywhere.
struct Provenance {
    /// Variables and parameters holding kernel pointers or values read from the kernel.
    std::set<const ValueDecl *> external;
    /// Context parameters of programs (and of the functions they are passed to); true for
    /// tracing contexts, whose values are the kernel's.
    std::map<const ParmVarDecl *, bool> contexts;
    /// The program's own functions that return a kernel value.
    std::set<const FunctionDecl *> externalReturns;

    /// Parentheses and casts, except the load (LValueToRValue) itself.
    static const Expr *stripValueCasts(const Expr *e) {
        for (;;) {
            e = e->IgnoreParens();
            auto *c = dyn_cast<CastExpr>(e);
            if (!c || c->getCastKind() == CK_LValueToRValue) return e;
            e = c->getSubExpr();
        }
    }

    /// The context parameter `e` is (or whose array `e` decays from), if any.
    const ParmVarDecl *contextPointer(const Expr *e) const {
        e = stripValueCasts(e);
        if (auto *c = dyn_cast<ImplicitCastExpr>(e)) {
            if (auto *d = dyn_cast<DeclRefExpr>(c->getSubExpr()->IgnoreParens()))
                if (auto *p = dyn_cast<ParmVarDecl>(d->getDecl()))
                    if (contexts.count(p)) return p;
            return nullptr;
        }
        if (e->isGLValue() && e->getType()->isArrayType()) return contextLocation(e);
        return nullptr;
    }

    /// The context parameter whose memory the lvalue `l` is in, if any.
    const ParmVarDecl *contextLocation(const Expr *l) const {
        l = l->IgnoreParens();
        if (auto *m = dyn_cast<MemberExpr>(l)) return m->isArrow() ? contextPointer(m->getBase()) : contextLocation(m->getBase());
        if (auto *a = dyn_cast<ArraySubscriptExpr>(l)) return contextPointer(a->getBase());
        if (auto *u = dyn_cast<UnaryOperator>(l))
            if (u->getOpcode() == UO_Deref) return contextPointer(u->getSubExpr());
        return nullptr;
    }

    /// The variable an lvalue is part of (`v`, `v.a.b`, `v[i]`), if any.
    static const ValueDecl *rootVariable(const Expr *l) {
        l = l->IgnoreParens();
        if (auto *d = dyn_cast<DeclRefExpr>(l)) return isa<VarDecl>(d->getDecl()) ? d->getDecl() : nullptr;
        if (auto *m = dyn_cast<MemberExpr>(l)) return m->isArrow() ? nullptr : rootVariable(m->getBase());
        if (auto *a = dyn_cast<ArraySubscriptExpr>(l)) {
            const Expr *base = stripValueCasts(a->getBase());
            return base->isGLValue() && base->getType()->isArrayType() ? rootVariable(base) : nullptr;
        }
        return nullptr;
    }

    /// Whether the lvalue `l` is kernel memory: reached through a kernel pointer.
    bool isKernelLocation(const Expr *l) const {
        l = l->IgnoreParens();
        if (auto *m = dyn_cast<MemberExpr>(l)) return m->isArrow() ? isExternal(m->getBase()) : isKernelLocation(m->getBase());
        if (auto *a = dyn_cast<ArraySubscriptExpr>(l)) return isExternal(a->getBase());
        if (auto *u = dyn_cast<UnaryOperator>(l))
            if (u->getOpcode() == UO_Deref) return isExternal(u->getSubExpr());
        return false;
    }

    /// Whether the value loaded from lvalue `l` is the kernel's.
    bool isExternalLoad(const Expr *l) const {
        l = l->IgnoreParens();
        if (isKernelLocation(l)) return true;
        if (const ParmVarDecl *p = contextLocation(l)) return contexts.at(p);
        if (const ValueDecl *v = rootVariable(l)) return external.count(v) > 0;
        // A pointer kept in memory that is neither the stack nor a context (a map value):
        // BPF programs keep kernel pointers there (tcpconnect's `struct sock **skpp`).
        if (const auto *pt = l->getType()->getAs<PointerType>()) {
            if (const RecordType *r = pt->getPointeeType()->getAs<RecordType>()) {
                llvm::StringRef name = r->getDecl()->getName();
                // What a packet or socket program sees through its context (skb->sk).
                if (name.startswith("bpf_") || name == "__sk_buff" || name == "xdp_md" || name == "sk_msg_md") return false;
            }
            return isa<MemberExpr>(l) || isa<ArraySubscriptExpr>(l) || isa<UnaryOperator>(l);
        }
        return false;
    }

    /// Whether the value of `e` is a kernel pointer or a value read from the kernel.
    bool isExternal(const Expr *e) const {
        e = e->IgnoreParens();
        if (auto *c = dyn_cast<CastExpr>(e)) {
            switch (c->getCastKind()) {
            case CK_LValueToRValue: return isExternalLoad(c->getSubExpr());
            case CK_ArrayToPointerDecay: return isKernelLocation(c->getSubExpr());
            default: return isExternal(c->getSubExpr());
            }
        }
        if (auto *u = dyn_cast<UnaryOperator>(e)) return u->getOpcode() == UO_AddrOf && isKernelLocation(u->getSubExpr());
        if (auto *b = dyn_cast<BinaryOperator>(e)) {
            switch (b->getOpcode()) {
            case BO_Add:
            case BO_Sub: return isExternal(b->getLHS()) || isExternal(b->getRHS());
            case BO_Comma:
            case BO_Assign: return isExternal(b->getRHS());
            default: return false;
            }
        }
        if (auto *c = dyn_cast<AbstractConditionalOperator>(e)) return isExternal(c->getTrueExpr()) || isExternal(c->getFalseExpr());
        if (auto *call = dyn_cast<CallExpr>(e)) {
            // libbpf declares helpers as pointers: `static long (*bpf_get_current_task)(void)`.
            if (auto *d = dyn_cast<DeclRefExpr>(call->getCallee()->IgnoreParenCasts()))
                if (d->getDecl()->getName() == "bpf_get_current_task") return true;
            if (const FunctionDecl *f = call->getDirectCallee()) return externalReturns.count(f->getCanonicalDecl()) > 0;
        }
        return false;
    }
};

/// One pass of provenance over a function body; `changed` when it learned something.
class FlowVisitor : public RecursiveASTVisitor<FlowVisitor> {
public:
    FlowVisitor(Provenance &p, const FunctionDecl *fn) : p(p), fn(fn) {}
    bool changed = false;

    bool VisitVarDecl(VarDecl *v) {
        if (!isa<ParmVarDecl>(v) && v->hasInit() && p.isExternal(v->getInit())) changed |= p.external.insert(v).second;
        return true;
    }
    bool VisitBinaryOperator(BinaryOperator *b) {
        if (b->getOpcode() == BO_Assign && p.isExternal(b->getRHS()))
            if (const ValueDecl *v = Provenance::rootVariable(b->getLHS())) changed |= p.external.insert(v).second;
        return true;
    }
    bool VisitCallExpr(CallExpr *c) {
        const FunctionDecl *f = c->getDirectCallee();
        if (!f || !(f = f->getDefinition())) return true;
        for (unsigned i = 0; i < c->getNumArgs() && i < f->getNumParams(); i++) {
            const ParmVarDecl *param = f->getParamDecl(i);
            if (const ParmVarDecl *ctx = p.contextPointer(c->getArg(i))) {
                if (!p.contexts.count(param)) {
                    p.contexts[param] = p.contexts[ctx];
                    changed = true;
                }
            } else if (p.isExternal(c->getArg(i))) {
                changed |= p.external.insert(param).second;
            }
        }
        return true;
    }
    bool VisitReturnStmt(ReturnStmt *r) {
        if (r->getRetValue() && p.isExternal(r->getRetValue())) changed |= p.externalReturns.insert(fn->getCanonicalDecl()).second;
        return true;
    }

private:
    Provenance &p;
    const FunctionDecl *fn;
};

/// Finds the loads of kernel memory (in source order, outer before inner) and the writes.
class ReadVisitor : public RecursiveASTVisitor<ReadVisitor> {
public:
    explicit ReadVisitor(const Provenance &p) : p(p) {}
    std::vector<const Expr *> reads;
    std::vector<const Expr *> writes;

    // Not evaluated: sizeof/alignof, typeof, and CO-RE's own builtins.
    bool TraverseUnaryExprOrTypeTraitExpr(UnaryExprOrTypeTraitExpr *) { return true; }
    bool TraverseTypeOfExprTypeLoc(TypeOfExprTypeLoc) { return true; }
    bool TraverseCallExpr(CallExpr *c) {
        switch (c->getBuiltinCallee()) {
        case BPF::BI__builtin_preserve_field_info:
        case BPF::BI__builtin_btf_type_id:
        case BPF::BI__builtin_preserve_type_info:
        case BPF::BI__builtin_preserve_enum_value: return true;
        default: return RecursiveASTVisitor::TraverseCallExpr(c);
        }
    }
    bool VisitImplicitCastExpr(ImplicitCastExpr *c) {
        if (c->getCastKind() == CK_LValueToRValue && p.isKernelLocation(c->getSubExpr())) reads.push_back(c->getSubExpr());
        return true;
    }
    bool VisitBinaryOperator(BinaryOperator *b) {
        if (b->isAssignmentOp() && p.isKernelLocation(b->getLHS())) writes.push_back(b->getLHS());
        return true;
    }
    bool VisitUnaryOperator(UnaryOperator *u) {
        if (u->isIncrementDecrementOp() && p.isKernelLocation(u->getSubExpr())) writes.push_back(u->getSubExpr());
        return true;
    }

private:
    const Provenance &p;
};

/// BCC's packet-header structs (bcc/proto.h; the prelude marks them with
/// annotate("netbpf_bcc_packet"), BCC's BPF_PACKET_HEADER).
bool isPacketHeader(QualType t) {
    const RecordDecl *r = t->getAsRecordDecl();
    if (!r) return false;
    for (const auto *a : r->specific_attrs<AnnotateAttr>())
        if (a->getAnnotation() == "netbpf_bcc_packet") return true;
    return false;
}

/// `p->field` where p points at a packet header (a packet offset from cursor_advance).
const MemberExpr *packetMember(const Expr *e) {
    const auto *m = dyn_cast<MemberExpr>(e->IgnoreParens());
    if (!m || !m->isArrow() || !isa<FieldDecl>(m->getMemberDecl())) return nullptr;
    const auto *pt = m->getBase()->getType()->getAs<PointerType>();
    return pt && isPacketHeader(pt->getPointeeType()) ? m : nullptr;
}

/// Finds BCC's packet-header field reads and writes (BCC's BTypeVisitor: bpf_dext_pkt and
/// bpf_dins_pkt).
class PacketVisitor : public RecursiveASTVisitor<PacketVisitor> {
public:
    std::vector<const MemberExpr *> reads;
    std::vector<const BinaryOperator *> writes;
    std::vector<const Expr *> unsupported;

    bool TraverseUnaryExprOrTypeTraitExpr(UnaryExprOrTypeTraitExpr *) { return true; }
    bool TraverseTypeOfExprTypeLoc(TypeOfExprTypeLoc) { return true; }
    bool VisitImplicitCastExpr(ImplicitCastExpr *c) {
        if (c->getCastKind() == CK_LValueToRValue)
            if (const MemberExpr *m = packetMember(c->getSubExpr())) reads.push_back(m);
        return true;
    }
    bool VisitBinaryOperator(BinaryOperator *b) {
        if (b->isAssignmentOp() && packetMember(b->getLHS())) {
            if (b->getOpcode() == BO_Assign) writes.push_back(b);
            else unsupported.push_back(b);
        }
        return true;
    }
    bool VisitUnaryOperator(UnaryOperator *u) {
        if (u->isIncrementDecrementOp() && packetMember(u->getSubExpr())) unsupported.push_back(u);
        return true;
    }
};

/// An insertion (length 0) or replacement in the main file.
struct Edit {
    unsigned offset, length;
    int order; // at one offset: closing text (0) before opening text (1) before replacements (2)
    unsigned seq;
    std::string text;
};

class KernelReadsConsumer : public ASTConsumer {
public:
    KernelReadsConsumer(CompilerInstance &ci, std::string &out, bool &changed) : ci(ci), out(out), changed(changed) {}

    void HandleTranslationUnit(ASTContext &ctx) override {
        SourceManager &sm = ctx.getSourceManager();
        DiagnosticsEngine &diags = ci.getDiagnostics();
        out = sm.getBufferData(sm.getMainFileID()).str();
        if (diags.hasErrorOccurred()) return;

        // The program's functions, and the context parameter of each program.
        Provenance p;
        std::vector<const FunctionDecl *> functions;
        for (Decl *d : ctx.getTranslationUnitDecl()->decls()) {
            auto *f = dyn_cast<FunctionDecl>(d);
            if (!f || !f->doesThisDeclarationHaveABody() || !sm.isInMainFile(sm.getExpansionLoc(f->getLocation()))) continue;
            functions.push_back(f);
            if (auto *s = f->getAttr<SectionAttr>(); s && f->getNumParams() > 0) p.contexts[f->getParamDecl(0)] = isTracingSection(s->getName());
        }
        for (int round = 0; round < 16; round++) {
            bool changedAny = false;
            for (const FunctionDecl *f : functions) {
                FlowVisitor v(p, f);
                v.TraverseStmt(f->getBody());
                changedAny |= v.changed;
            }
            if (!changedAny) break;
        }

        std::vector<Edit> edits;
        unsigned errorID = diags.getCustomDiagID(DiagnosticsEngine::Error, "%0");
        const LangOptions &lo = ctx.getLangOpts();
        auto fileRange = [&](const Expr *e, CharSourceRange &range) {
            range = Lexer::makeFileCharRange(CharSourceRange::getTokenRange(e->getSourceRange()), sm, lo);
            return range.isValid() && sm.isInMainFile(range.getBegin());
        };
        // A read that is not the main file's text and lies inside a macro of a header (libbpf's,
        // the prelude's) is the header's own business.
        auto fromHeader = [&](const Expr *e) {
            SourceLocation b = e->getBeginLoc(), end = e->getEndLoc();
            return (b.isMacroID() && !sm.isInMainFile(sm.getSpellingLoc(b))) || (end.isMacroID() && !sm.isInMainFile(sm.getSpellingLoc(end)));
        };
        unsigned seq = 0;
        for (const FunctionDecl *f : functions) {
            ReadVisitor v(p);
            v.TraverseStmt(f->getBody());
            for (const Expr *w : v.writes) {
                CharSourceRange r;
                bool inFile = fileRange(w, r);
                if (!inFile && fromHeader(w)) continue;
                std::string text = inFile ? Lexer::getSourceText(r, sm, lo).str() : "this expression";
                diags.Report(w->getExprLoc(), errorID)
                    << ("BCC mode: `" + text + "` is kernel memory, which a BPF program cannot write; copy the value into a local variable or a map and change that");
            }
            std::vector<Edit> opens, closes;
            for (const Expr *l : v.reads) {
                CharSourceRange r;
                if (!fileRange(l, r)) {
                    if (fromHeader(l)) continue;
                    SourceLocation at = l->getBeginLoc().isMacroID() ? l->getBeginLoc() : l->getEndLoc();
                    llvm::StringRef macro = at.isMacroID() ? Lexer::getImmediateMacroName(at, sm, lo) : "";
                    diags.Report(l->getExprLoc(), errorID)
                        << ("BCC mode: this read of kernel memory is inside the macro `" + macro.str() +
                            "` and cannot be rewritten into a probe read; write it with BPF_CORE_READ(ptr, field, ...) "
                            "or bpf_probe_read_kernel(&dst, sizeof(dst), &ptr->field) in the macro");
                    continue;
                }
                unsigned b = sm.getFileOffset(r.getBegin()), e = sm.getFileOffset(r.getEnd());
                std::string text = Lexer::getSourceText(r, sm, lo).str();
                unsigned n = seq++;
                const auto *m = dyn_cast<MemberExpr>(l->IgnoreParens());
                const auto *field = m ? dyn_cast<FieldDecl>(m->getMemberDecl()) : nullptr;
                if (field && field->isBitField()) {
                    // libbpf's bitfield read: BPF_CORE_READ_BITFIELD_PROBED(ptr, field).
                    SourceLocation op = sm.getExpansionLoc(m->getOperatorLoc());
                    if (!op.isFileID() || !sm.isInMainFile(op)) continue;
                    opens.push_back({b, 0, 1, n, m->isArrow() ? "BPF_CORE_READ_BITFIELD_PROBED(" : "BPF_CORE_READ_BITFIELD_PROBED(&("});
                    edits.push_back({sm.getFileOffset(op), m->isArrow() ? 2u : 1u, 2, n, m->isArrow() ? ", " : "), "});
                    closes.push_back({e, 0, 0, 0, ")"});
                    continue;
                }
                std::string v = "__nbb_kv" + std::to_string(n);
                opens.push_back({b, 0, 1, n,
                                 "({ __typeof__(" + text + ") " + v + "; bpf_probe_read_kernel((void *)&" + v + ", sizeof(" + v +
                                     "), (const void *)&("});
                closes.push_back({e, 0, 0, 0, ")); " + v + "; })"});
            }
            packetEdits(ctx, f, opens, closes, edits, seq, errorID);
            // Inner reads close before the reads around them.
            for (size_t i = closes.size(); i-- > 0;) {
                closes[i].seq = seq++;
                edits.push_back(closes[i]);
            }
            edits.insert(edits.end(), opens.begin(), opens.end());
        }
        if (edits.empty() || diags.hasErrorOccurred()) return;
        std::stable_sort(edits.begin(), edits.end(), [](const Edit &a, const Edit &b) {
            if (a.offset != b.offset) return a.offset < b.offset;
            if (a.order != b.order) return a.order < b.order;
            return a.order == 1 ? a.seq < b.seq : a.seq < b.seq;
        });
        std::string original = out, result;
        unsigned at = 0;
        for (const Edit &e : edits) {
            if (e.offset < at) continue; // overlapping replacement: cannot happen for well-formed ranges
            result.append(original, at, e.offset - at);
            result += e.text;
            at = e.offset + e.length;
        }
        result.append(original, at, std::string::npos);
        out = std::move(result);
        changed = true;
    }

private:
    CompilerInstance &ci;
    std::string &out;
    bool &changed;

    /// Packet-header fields (`ip->src`, `eth->dst = x`) into bpf_dext_pkt/bpf_dins_pkt of the
    /// function's socket buffer, at the field's bit offset and width in the header.
    void packetEdits(ASTContext &ctx, const FunctionDecl *f, std::vector<Edit> &opens, std::vector<Edit> &closes,
                     std::vector<Edit> &edits, unsigned &seq, unsigned errorID) {
        SourceManager &sm = ctx.getSourceManager();
        DiagnosticsEngine &diags = ci.getDiagnostics();
        const LangOptions &lo = ctx.getLangOpts();
        PacketVisitor v;
        v.TraverseStmt(f->getBody());
        if (v.reads.empty() && v.writes.empty() && v.unsupported.empty()) return;
        for (const Expr *e : v.unsupported)
            diags.Report(e->getExprLoc(), errorID)
                << "BCC mode: only `=` can change a packet-header field (BCC's bpf_dins_pkt); write `h->f = h->f + n` instead of `h->f += n` or `h->f++`";
        // The socket buffer: the function's first parameter (load_byte and friends need it).
        std::string skb;
        if (f->getNumParams() > 0) {
            const ParmVarDecl *p = f->getParamDecl(0);
            const auto *pt = p->getType()->getAs<PointerType>();
            const RecordDecl *r = pt ? pt->getPointeeType()->getAsRecordDecl() : nullptr;
            if (r && r->getName() == "__sk_buff") skb = p->getName().str();
        }
        auto fileRange = [&](const Expr *e, CharSourceRange &range) {
            range = Lexer::makeFileCharRange(CharSourceRange::getTokenRange(e->getSourceRange()), sm, lo);
            return range.isValid() && sm.isInMainFile(range.getBegin());
        };
        // (byte offset, bit offset in that byte, bits) of a member, BCC's big-endian reading.
        auto place = [&](const MemberExpr *m) {
            const auto *field = cast<FieldDecl>(m->getMemberDecl());
            const ASTRecordLayout &layout = ctx.getASTRecordLayout(field->getParent());
            uint64_t ofs = layout.getFieldOffset(field->getFieldIndex());
            uint64_t bits = field->isBitField() ? field->getBitWidthValue(ctx) : ctx.getTypeSize(field->getType());
            return std::to_string(ofs >> 3) + ", " + std::to_string(ofs & 7) + ", " + std::to_string(bits);
        };
        auto start = [&](const MemberExpr *m, const char *what, unsigned &b, unsigned &op, unsigned &end) {
            CharSourceRange r;
            SourceLocation opLoc = m->getOperatorLoc();
            if (skb.empty()) {
                diags.Report(m->getExprLoc(), errorID)
                    << (std::string("BCC mode: the packet-header field `") + m->getMemberDecl()->getName().str() +
                        "` is read from the socket buffer, which only a function whose first parameter is `struct __sk_buff *` has; "
                        "pass the program's `skb` as the first parameter of `" + f->getName().str() + "`");
                return false;
            }
            if (!fileRange(m, r) || !opLoc.isFileID() || !sm.isInMainFile(opLoc)) {
                diags.Report(m->getExprLoc(), errorID)
                    << (std::string("BCC mode: this packet-header ") + what + " is inside a macro and cannot be rewritten; use load_byte/load_half/load_word(skb, offset) there");
                return false;
            }
            b = sm.getFileOffset(r.getBegin());
            op = sm.getFileOffset(opLoc);
            end = sm.getFileOffset(r.getEnd());
            return true;
        };
        for (const MemberExpr *m : v.reads) {
            unsigned b, op, end;
            if (!start(m, "read", b, op, end)) continue;
            unsigned n = seq++;
            opens.push_back({b, 0, 1, n, "bpf_dext_pkt(" + skb + ", (u64)("});
            edits.push_back({op, end - op, 2, n, ") + " + place(m) + ")"});
        }
        for (const BinaryOperator *w : v.writes) {
            const MemberExpr *m = packetMember(w->getLHS());
            unsigned b, op, end;
            CharSourceRange rhs;
            if (!start(m, "write", b, op, end)) continue;
            if (!fileRange(w->getRHS(), rhs)) {
                diags.Report(w->getExprLoc(), errorID) << "BCC mode: the value written to this packet-header field is inside a macro; assign a local variable first";
                continue;
            }
            unsigned n = seq++;
            opens.push_back({b, 0, 1, n, "bpf_dins_pkt(" + skb + ", (u64)("});
            edits.push_back({op, sm.getFileOffset(rhs.getBegin()) - op, 2, n, ") + " + place(m) + ", "});
            closes.push_back({sm.getFileOffset(rhs.getEnd()), 0, 0, 0, ")"});
        }
    }
};

class KernelReadsAction : public ASTFrontendAction {
public:
    KernelReadsAction(std::string &out, bool &changed) : out(out), changed(changed) {}

protected:
    std::unique_ptr<ASTConsumer> CreateASTConsumer(CompilerInstance &ci, llvm::StringRef) override {
        return std::make_unique<KernelReadsConsumer>(ci, out, changed);
    }

private:
    std::string &out;
    bool &changed;
};

} // namespace

std::unique_ptr<FrontendAction> makeKernelReadsAction(std::string &out, bool &changed) {
    return std::make_unique<KernelReadsAction>(out, changed);
}

} // namespace netbpf
