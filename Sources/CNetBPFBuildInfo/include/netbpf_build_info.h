#ifndef NETBPF_BUILD_INFO_H
#define NETBPF_BUILD_INFO_H

/// The git commit netbpf was built from ("abc1234", "abc1234-dirty"), or NULL when the build
/// did not record one (a plain `swift build`: scripts/install.sh and scripts/package-deb.sh
/// write build_commit.h before they build).
const char *nb_build_commit(void);

#endif
