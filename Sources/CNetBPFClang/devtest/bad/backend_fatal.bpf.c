// LLVM 14's CO-RE pass calls report_fatal_error on this instead of a diagnostic.
typedef int arr_t[4];

int field_info(arr_t *p)
{
    return __builtin_preserve_field_info((*p)[1], 0);
}
