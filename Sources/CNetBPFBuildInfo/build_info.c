// The commit comes from build_commit.h, written by scripts/build-info.sh before a release build
// (install.sh, package-deb.sh) and not kept in git; without it the commit is unknown. A C file
// rather than Swift because C can ask whether a header exists (__has_include) and a missing
// generated file must not break a plain `swift build` in a clone.
#include "netbpf_build_info.h"

#if __has_include("build_commit.h")
#include "build_commit.h"
#endif

const char *nb_build_commit(void) {
#ifdef NETBPF_BUILD_COMMIT
    return NETBPF_BUILD_COMMIT;
#else
    return 0;
#endif
}
