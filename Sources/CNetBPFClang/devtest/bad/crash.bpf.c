// clang crashes on purpose here: checks that a compiler crash stays in the compile child.
#pragma clang __debug crash
