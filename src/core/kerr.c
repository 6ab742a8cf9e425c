#include "kerr.h"

static const char *const kind_names[] = {
  "ok",
#define KL_KIND_NAME(name) #name,
  KL_ERROR_KINDS(KL_KIND_NAME)
#undef KL_KIND_NAME
};

const char *kl_kind_name(kl_kind k) {
  if ((int)k < 0 || k >= KL_E__COUNT) return "unknown";
  return kind_names[k];
}
