/* JSON Schema `format` assertions; see jsonformat.h for what each checks.
 *
 * Every checker takes the string as bytes with a length (it may hold NULs)
 * and only reads inside it. Digits and letters are ASCII only: a Bengali
 * digit is not a digit in a date or an address. */
#include "jsonformat.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "jsondec.h"
#include "jsregex.h"
#define KL_UNITAB_CLASSES_ONLY
#include "pretok.h"
#include "unitab.h"

/* ---- small helpers ------------------------------------------------------ */

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_alnum(unsigned char c) { return is_digit(c) || is_alpha(c); }
static int hexval(unsigned char c) {
  if (is_digit(c)) return c - '0';
  c |= 0x20;
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Exactly k ASCII digits at s into *v. */
static int num(const char *s, int k, int *v) {
  int x = 0;
  for (int i = 0; i < k; i++) {
    if (!is_digit((unsigned char)s[i])) return 0;
    x = x * 10 + (s[i] - '0');
  }
  *v = x;
  return 1;
}

/* Decodes the UTF-8 sequence at s[*i] (n bytes in all) and advances *i;
 * 0 for a malformed one (the caller's promise of valid UTF-8 is not
 * trusted: a bad byte makes the string invalid, never a bad read). */
static int u8next(const char *s, size_t n, size_t *i, uint32_t *cp) {
  const unsigned char *p = (const unsigned char *)s + *i;
  size_t left = n - *i;
  if (p[0] < 0x80) {
    *cp = p[0];
    *i += 1;
    return 1;
  }
  size_t len = kl_utf8_seq(p, left);
  if (!len) return 0;
  uint32_t c = p[0] & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; k++) c = (c << 6) | (p[k] & 0x3F);
  *cp = c;
  *i += len;
  return 1;
}

typedef struct {
  uint32_t lo, hi;
} range;

static int in_ranges(uint32_t cp, const range *r, size_t n) {
  size_t a = 0, b = n;
  while (a < b) {
    size_t m = (a + b) / 2;
    if (cp < r[m].lo) b = m;
    else if (cp > r[m].hi) a = m + 1;
    else return 1;
  }
  return 0;
}
#define IN(cp, table) in_ranges((cp), (table), sizeof(table) / sizeof((table)[0]))

/* ---- date, time, date-time (RFC 3339 section 5.6) ----------------------- */

static int full_date(const char *s, size_t n) {
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, m, d;
  if (n != 10 || !num(s, 4, &y) || s[4] != '-' || !num(s + 5, 2, &m) || s[7] != '-' || !num(s + 8, 2, &d)) return 0;
  if (m < 1 || m > 12 || d < 1) return 0;
  int leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
  return d <= mdays[m - 1] + (m == 2 && leap);
}

/* partial-time time-offset */
static int full_time(const char *s, size_t n) {
  int h, mi, se, oh = 0, om = 0, sign = 0;
  if (n < 9 || !num(s, 2, &h) || s[2] != ':' || !num(s + 3, 2, &mi) || s[5] != ':' || !num(s + 6, 2, &se)) return 0;
  if (h > 23 || mi > 59 || se > 60) return 0;
  size_t i = 8;
  if (s[i] == '.') {
    size_t j = ++i;
    while (i < n && is_digit((unsigned char)s[i])) i++;
    if (i == j) return 0;
  }
  if (i >= n) return 0; /* the offset is required */
  if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
    /* UTC */
  } else if ((s[i] == '+' || s[i] == '-') && n - i == 6 && num(s + i + 1, 2, &oh) && s[i + 3] == ':' &&
             num(s + i + 4, 2, &om)) {
    if (oh > 23 || om > 59) return 0;
    sign = s[i] == '+' ? 1 : -1;
  } else {
    return 0;
  }
  if (se == 60) { /* a leap second is the last second of a UTC day */
    int utc = h * 60 + mi - sign * (oh * 60 + om);
    utc = (utc % 1440 + 1440) % 1440;
    if (utc != 23 * 60 + 59) return 0;
  }
  return 1;
}

static int f_date(const char *s, size_t n) { return full_date(s, n); }
static int f_time(const char *s, size_t n) { return full_time(s, n); }
static int f_date_time(const char *s, size_t n) {
  return n > 11 && full_date(s, 10) && (s[10] == 'T' || s[10] == 't') && full_time(s + 11, n - 11);
}

/* ---- duration (RFC 3339 appendix A) ------------------------------------- */

/* 1*( 1*DIGIT unit ) with the units in the order of `units` and no gaps
 * (the ABNF nests them: a year may be followed by a month, then a day).
 * Returns the number of elements read, -1 on a bad unit or order. */
static int dur_elems(const char *s, size_t n, size_t *i, const char *units) {
  int last = -1, count = 0;
  while (*i < n && is_digit((unsigned char)s[*i])) {
    size_t j = *i;
    while (j < n && is_digit((unsigned char)s[j])) j++;
    if (j >= n) return -1;
    const char *u = strchr(units, s[j]);
    if (!s[j] || !u) return -1;
    int k = (int)(u - units);
    if (last >= 0 && k != last + 1) return -1;
    last = k;
    count++;
    *i = j + 1;
  }
  return count;
}

static int f_duration(const char *s, size_t n) {
  if (n < 3 || s[0] != 'P') return 0;
  size_t i = 1;
  while (i < n && is_digit((unsigned char)s[i])) i++;
  if (i > 1 && i + 1 == n && s[i] == 'W') return 1; /* weeks stand alone */
  i = 1;
  int d = dur_elems(s, n, &i, "YMD");
  if (d < 0) return 0;
  if (i == n) return d > 0;
  if (s[i] != 'T') return 0;
  i++;
  return dur_elems(s, n, &i, "HMS") > 0 && i == n;
}

/* ---- IP addresses -------------------------------------------------------- */

static int f_ipv4(const char *s, size_t n) {
  size_t i = 0;
  for (int part = 0; part < 4; part++) {
    if (part) {
      if (i >= n || s[i] != '.') return 0;
      i++;
    }
    size_t j = i;
    unsigned v = 0;
    while (j < n && j - i < 3 && is_digit((unsigned char)s[j])) v = v * 10 + (unsigned)(s[j++] - '0');
    if (j == i || (j - i > 1 && s[i] == '0') || v > 255) return 0;
    i = j;
  }
  return i == n;
}

static int f_ipv6(const char *s, size_t n) {
  int groups = 0, dbl = 0;
  size_t i = 0;
  if (n >= 2 && s[0] == ':' && s[1] == ':') {
    dbl = 1;
    i = 2;
    if (i == n) return 1;
  }
  for (;;) {
    size_t j = i;
    while (j < n && j - i < 5 && hexval((unsigned char)s[j]) >= 0) j++;
    if (j < n && s[j] == '.') { /* the last 32 bits as a dotted quad */
      if (!f_ipv4(s + i, n - i)) return 0;
      groups += 2;
      break;
    }
    if (j == i || j - i > 4) return 0;
    if (++groups > 8) return 0;
    i = j;
    if (i == n) break;
    if (s[i] != ':') return 0;
    if (++i == n) return 0; /* a trailing single colon */
    if (s[i] == ':') {
      if (dbl) return 0;
      dbl = 1;
      if (++i == n) break;
    }
  }
  return dbl ? groups <= 7 : groups == 8;
}

/* ---- IDNA2008 pieces: Punycode (RFC 3492) -------------------------------- */

enum { PC_BASE = 36, PC_TMIN = 1, PC_TMAX = 26, PC_SKEW = 38, PC_DAMP = 700, PC_BIAS = 72, PC_N = 128 };
#define LABEL_MAX 63 /* octets in a DNS label; a U-label has at most as many code points */

static uint32_t pc_adapt(uint32_t delta, uint32_t points, int first) {
  uint32_t k = 0;
  delta = first ? delta / PC_DAMP : delta / 2;
  delta += delta / points;
  while (delta > ((PC_BASE - PC_TMIN) * PC_TMAX) / 2) {
    delta /= PC_BASE - PC_TMIN;
    k += PC_BASE;
  }
  return k + (PC_BASE - PC_TMIN + 1) * delta / (delta + PC_SKEW);
}

static uint32_t pc_t(uint32_t k, uint32_t bias) {
  return k <= bias ? PC_TMIN : k >= bias + PC_TMAX ? PC_TMAX : k - bias;
}

/* Punycode s[0..n) into out (at most LABEL_MAX code points); the count, or
 * -1 when it is not valid Punycode. Strict RFC 3492: with no basic code
 * points a leading delimiter is not skipped, so "-9uc" is invalid. */
static int pc_decode(const char *s, size_t n, uint32_t *out) {
  size_t b = 0, in = 0, len = 0;
  for (size_t j = n; j-- > 0;)
    if (s[j] == '-') {
      b = j;
      break;
    }
  if (b > LABEL_MAX) return -1;
  for (size_t j = 0; j < b; j++) {
    if ((unsigned char)s[j] >= 0x80) return -1;
    out[len++] = (unsigned char)s[j];
  }
  in = b > 0 ? b + 1 : 0;
  uint32_t cp = PC_N, bias = PC_BIAS, i = 0;
  while (in < n) {
    uint32_t oldi = i, w = 1;
    for (uint32_t k = PC_BASE;; k += PC_BASE) {
      if (in >= n) return -1;
      unsigned char c = (unsigned char)s[in++];
      int digit = is_digit(c) ? c - '0' + 26 : is_alpha(c) ? (c | 0x20) - 'a' : -1;
      if (digit < 0) return -1;
      if ((uint32_t)digit > (UINT32_MAX - i) / w) return -1;
      i += (uint32_t)digit * w;
      uint32_t t = pc_t(k, bias);
      if ((uint32_t)digit < t) break;
      if (w > UINT32_MAX / (PC_BASE - t)) return -1;
      w *= PC_BASE - t;
    }
    bias = pc_adapt(i - oldi, (uint32_t)len + 1, oldi == 0);
    if (i / (len + 1) > 0x10FFFF - cp) return -1;
    cp += i / (uint32_t)(len + 1);
    i %= (uint32_t)(len + 1);
    if (cp < 0x80 || (cp >= 0xD800 && cp <= 0xDFFF) || len >= LABEL_MAX) return -1;
    memmove(out + i + 1, out + i, (len - i) * sizeof *out);
    out[i++] = cp;
    len++;
  }
  return (int)len;
}

/* Punycode of cp[0..k) into out (cap bytes); its length, or -1 when it
 * would not fit (callers pass the room left in a 63-octet label). */
static int pc_encode(const uint32_t *cp, size_t k, char *out, size_t cap) {
  size_t o = 0, b = 0;
  for (size_t j = 0; j < k; j++)
    if (cp[j] < 0x80) {
      if (o >= cap) return -1;
      out[o++] = (char)cp[j];
      b++;
    }
  size_t h = b;
  if (b > 0) {
    if (o >= cap) return -1;
    out[o++] = '-';
  }
  uint32_t n = PC_N, delta = 0, bias = PC_BIAS;
  while (h < k) {
    uint32_t m = UINT32_MAX;
    for (size_t j = 0; j < k; j++)
      if (cp[j] >= n && cp[j] < m) m = cp[j];
    if ((m - n) > (UINT32_MAX - delta) / (h + 1)) return -1;
    delta += (m - n) * (uint32_t)(h + 1);
    n = m;
    for (size_t j = 0; j < k; j++) {
      if (cp[j] < n && ++delta == 0) return -1;
      if (cp[j] != n) continue;
      uint32_t q = delta;
      for (uint32_t kk = PC_BASE;; kk += PC_BASE) {
        uint32_t t = pc_t(kk, bias);
        if (q < t) break;
        uint32_t d = t + (q - t) % (PC_BASE - t);
        if (o >= cap) return -1;
        out[o++] = (char)(d < 26 ? 'a' + d : '0' + d - 26);
        q = (q - t) / (PC_BASE - t);
      }
      if (o >= cap) return -1;
      out[o++] = (char)(q < 26 ? 'a' + q : '0' + q - 26);
      bias = pc_adapt(delta, (uint32_t)h + 1, h == b);
      delta = 0;
      h++;
    }
    delta++;
    n++;
  }
  return (int)o;
}

/* ---- IDNA2008 pieces: code point properties (RFC 5892, 5893) ------------ */

/* Canonical combining class 9 (virama), for the CONTEXTJ rules. */
static const range viramas[] = {
  {0x94D, 0x94D}, {0x9CD, 0x9CD}, {0xA4D, 0xA4D}, {0xACD, 0xACD}, {0xB4D, 0xB4D}, {0xBCD, 0xBCD}, {0xC4D, 0xC4D},
  {0xCCD, 0xCCD}, {0xD3B, 0xD3C}, {0xD4D, 0xD4D}, {0xDCA, 0xDCA}, {0xE3A, 0xE3A}, {0xEBA, 0xEBA}, {0xF84, 0xF84},
  {0x1039, 0x103A}, {0x1714, 0x1715}, {0x1734, 0x1734}, {0x17D2, 0x17D2}, {0x1A60, 0x1A60}, {0x1B44, 0x1B44},
  {0x1BAA, 0x1BAB}, {0x1BF2, 0x1BF3}, {0x2D7F, 0x2D7F}, {0xA806, 0xA806}, {0xA82C, 0xA82C}, {0xA8C4, 0xA8C4},
  {0xA953, 0xA953}, {0xA9C0, 0xA9C0}, {0xAAF6, 0xAAF6}, {0xABED, 0xABED}, {0x10A3F, 0x10A3F}, {0x11046, 0x11046},
  {0x11070, 0x11070}, {0x1107F, 0x1107F}, {0x110B9, 0x110B9}, {0x11133, 0x11134}, {0x111C0, 0x111C0},
  {0x11235, 0x11235}, {0x112EA, 0x112EA}, {0x1134D, 0x1134D}, {0x11442, 0x11442}, {0x114C2, 0x114C2},
  {0x115BF, 0x115BF}, {0x1163F, 0x1163F}, {0x116B6, 0x116B6}, {0x1172B, 0x1172B}, {0x11839, 0x11839},
  {0x1193D, 0x1193E}, {0x119E0, 0x119E0}, {0x11A34, 0x11A34}, {0x11A47, 0x11A47}, {0x11A99, 0x11A99},
  {0x11C3F, 0x11C3F}, {0x11D44, 0x11D45}, {0x11D97, 0x11D97}, {0x11F41, 0x11F42},
};

/* Joining_Type L or D (may join the following letter) and R or D (may join
 * the preceding one), from ArabicShaping.txt (Unicode 15.1); T (transparent)
 * is taken as "a mark". */
static const range join_ld[] = {
  {0x620, 0x620}, {0x626, 0x626}, {0x628, 0x628}, {0x62A, 0x62E}, {0x633, 0x63F}, {0x641, 0x647}, {0x649, 0x64A},
  {0x66E, 0x66F}, {0x678, 0x687}, {0x69A, 0x6BF}, {0x6C1, 0x6C2}, {0x6CC, 0x6CC}, {0x6CE, 0x6CE}, {0x6D0, 0x6D1},
  {0x6FA, 0x6FC}, {0x6FF, 0x6FF}, {0x712, 0x714}, {0x71A, 0x71D}, {0x71F, 0x727}, {0x729, 0x729}, {0x72B, 0x72B},
  {0x72D, 0x72E}, {0x74E, 0x758}, {0x75C, 0x76A}, {0x76D, 0x770}, {0x772, 0x772}, {0x775, 0x777}, {0x77A, 0x77F},
  {0x7CA, 0x7EA}, {0x841, 0x845}, {0x848, 0x848}, {0x84A, 0x853}, {0x855, 0x855}, {0x860, 0x860}, {0x862, 0x865},
  {0x868, 0x868}, {0x886, 0x886}, {0x889, 0x88D}, {0x8A0, 0x8A9}, {0x8AF, 0x8B0}, {0x8B3, 0x8B8}, {0x8BA, 0x8C8},
  {0x1807, 0x1807}, {0x1820, 0x1878}, {0x1887, 0x18A8}, {0x18AA, 0x18AA}, {0xA840, 0xA872}, {0x10AC0, 0x10AC4},
  {0x10ACD, 0x10ACD}, {0x10AD3, 0x10ADC}, {0x10ADE, 0x10AE0}, {0x10AEB, 0x10AEE}, {0x10B80, 0x10B80},
  {0x10B82, 0x10B82}, {0x10B86, 0x10B88}, {0x10B8A, 0x10B8B}, {0x10B8D, 0x10B8D}, {0x10B90, 0x10B90},
  {0x10BAD, 0x10BAE}, {0x10D00, 0x10D21}, {0x10D23, 0x10D23}, {0x10F30, 0x10F32}, {0x10F34, 0x10F44},
  {0x10F51, 0x10F53}, {0x10F70, 0x10F73}, {0x10F76, 0x10F81}, {0x10FB0, 0x10FB0}, {0x10FB2, 0x10FB3},
  {0x10FB8, 0x10FB8}, {0x10FBB, 0x10FBC}, {0x10FBE, 0x10FBF}, {0x10FC1, 0x10FC1}, {0x10FC4, 0x10FC4},
  {0x10FCA, 0x10FCB}, {0x1E900, 0x1E943},
};
static const range join_rd[] = {
  {0x620, 0x620}, {0x622, 0x63F}, {0x641, 0x64A}, {0x66E, 0x66F}, {0x671, 0x673}, {0x675, 0x6D3}, {0x6D5, 0x6D5},
  {0x6EE, 0x6EF}, {0x6FA, 0x6FC}, {0x6FF, 0x6FF}, {0x710, 0x710}, {0x712, 0x72F}, {0x74D, 0x77F}, {0x7CA, 0x7EA},
  {0x840, 0x858}, {0x860, 0x860}, {0x862, 0x865}, {0x867, 0x86A}, {0x870, 0x882}, {0x886, 0x886}, {0x889, 0x88E},
  {0x8A0, 0x8AC}, {0x8AE, 0x8C8}, {0x1807, 0x1807}, {0x1820, 0x1878}, {0x1887, 0x18A8}, {0x18AA, 0x18AA},
  {0xA840, 0xA871}, {0x10AC0, 0x10AC5}, {0x10AC7, 0x10AC7}, {0x10AC9, 0x10ACA}, {0x10ACE, 0x10AD6},
  {0x10AD8, 0x10AE1}, {0x10AE4, 0x10AE4}, {0x10AEB, 0x10AEF}, {0x10B80, 0x10B91}, {0x10BA9, 0x10BAE},
  {0x10D01, 0x10D23}, {0x10F30, 0x10F44}, {0x10F51, 0x10F54}, {0x10F70, 0x10F81}, {0x10FB0, 0x10FB0},
  {0x10FB2, 0x10FB6}, {0x10FB8, 0x10FBF}, {0x10FC1, 0x10FC4}, {0x10FC9, 0x10FCA}, {0x1E900, 0x1E943},
};

/* Scripts the CONTEXTO rules name (Scripts.txt, Unicode 15.1). */
static const range greek[] = {
  {0x370, 0x373}, {0x375, 0x377}, {0x37A, 0x37D}, {0x37F, 0x37F}, {0x384, 0x384}, {0x386, 0x386},
  {0x388, 0x38A}, {0x38C, 0x38C}, {0x38E, 0x3A1}, {0x3A3, 0x3E1}, {0x3F0, 0x3FF}, {0x1D26, 0x1D2A},
  {0x1D5D, 0x1D61}, {0x1D66, 0x1D6A}, {0x1DBF, 0x1DBF}, {0x1F00, 0x1F15}, {0x1F18, 0x1F1D}, {0x1F20, 0x1F45},
  {0x1F48, 0x1F4D}, {0x1F50, 0x1F57}, {0x1F59, 0x1F59}, {0x1F5B, 0x1F5B}, {0x1F5D, 0x1F5D}, {0x1F5F, 0x1F7D},
  {0x1F80, 0x1FB4}, {0x1FB6, 0x1FC4}, {0x1FC6, 0x1FD3}, {0x1FD6, 0x1FDB}, {0x1FDD, 0x1FEF}, {0x1FF2, 0x1FF4},
  {0x1FF6, 0x1FFE}, {0x2126, 0x2126}, {0xAB65, 0xAB65}, {0x10140, 0x1018E}, {0x101A0, 0x101A0},
  {0x1D200, 0x1D245},
};
static const range hebrew[] = {
  {0x591, 0x5C7}, {0x5D0, 0x5EA}, {0x5EF, 0x5F4}, {0xFB1D, 0xFB36}, {0xFB38, 0xFB3C}, {0xFB3E, 0xFB3E},
  {0xFB40, 0xFB41}, {0xFB43, 0xFB44}, {0xFB46, 0xFB4F},
};
/* Hiragana, Katakana and Han together (U+30FB itself is excluded by the caller). */
static const range kana_han[] = {
  {0x2E80, 0x2E99}, {0x2E9B, 0x2EF3}, {0x2F00, 0x2FD5}, {0x3005, 0x3005}, {0x3007, 0x3007}, {0x3021, 0x3029},
  {0x3038, 0x303B}, {0x3041, 0x3096}, {0x309D, 0x309F}, {0x30A1, 0x30FA}, {0x30FD, 0x30FF}, {0x31F0, 0x31FF},
  {0x32D0, 0x32FE}, {0x3300, 0x3357}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF}, {0xF900, 0xFA6D}, {0xFA70, 0xFAD9},
  {0xFF66, 0xFF6F}, {0xFF71, 0xFF9D}, {0x16FE2, 0x16FE3}, {0x16FF0, 0x16FF1}, {0x1AFF0, 0x1AFF3},
  {0x1AFF5, 0x1AFFB}, {0x1AFFD, 0x1AFFE}, {0x1B000, 0x1B122}, {0x1B132, 0x1B132}, {0x1B150, 0x1B152},
  {0x1B155, 0x1B155}, {0x1B164, 0x1B167}, {0x1F200, 0x1F200}, {0x20000, 0x2A6DF}, {0x2A700, 0x2B739},
  {0x2B740, 0x2B81D}, {0x2B820, 0x2CEA1}, {0x2CEB0, 0x2EBE0}, {0x2EBF0, 0x2EE5D}, {0x2F800, 0x2FA1D},
  {0x30000, 0x3134A}, {0x31350, 0x323AF},
};

/* The code points unitab.h classes as letters, marks or digits that are
 * not PVALID/CONTEXT in the IANA IDNA2008 tables for Unicode 15.1 (RFC 5892
 * section 3: upper/title case, NFKC-unstable compatibility characters,
 * Nl/No numbers, old Hangul jamo, ignorable blocks, the DISALLOWED
 * exceptions). Ranges are merged across code points the classes reject
 * anyway, which keeps the table short; built by comparing the two tables
 * code point by code point. */
static const range idna_disallowed[] = {
  {0x00AA, 0x00BE}, {0x0133, 0x0133}, {0x0140, 0x0140}, {0x0149, 0x0149}, {0x017F, 0x017F}, {0x01C6, 0x01CC},
  {0x01F3, 0x01F3}, {0x02B0, 0x02B8}, {0x02E0, 0x02E4}, {0x0340, 0x0341}, {0x0343, 0x0345}, {0x034F, 0x034F},
  {0x0374, 0x0374}, {0x037A, 0x037A}, {0x03D0, 0x03D6}, {0x03F0, 0x03F2}, {0x03F5, 0x03F5}, {0x0488, 0x0489},
  {0x0587, 0x0587}, {0x0640, 0x0640}, {0x0675, 0x0678}, {0x07FA, 0x07FA}, {0x0958, 0x095F}, {0x09DC, 0x09DF},
  {0x09F4, 0x09F9}, {0x0A33, 0x0A33}, {0x0A36, 0x0A36}, {0x0A59, 0x0A5B}, {0x0A5E, 0x0A5E}, {0x0B5C, 0x0B5D},
  {0x0B72, 0x0B77}, {0x0BF0, 0x0BF2}, {0x0C78, 0x0C7E}, {0x0D58, 0x0D5E}, {0x0D70, 0x0D78}, {0x0E33, 0x0E33},
  {0x0EB3, 0x0EB3}, {0x0EDC, 0x0EDD}, {0x0F2A, 0x0F33}, {0x0F43, 0x0F43}, {0x0F4D, 0x0F4D}, {0x0F52, 0x0F52},
  {0x0F57, 0x0F57}, {0x0F5C, 0x0F5C}, {0x0F69, 0x0F69}, {0x0F73, 0x0F73}, {0x0F75, 0x0F79}, {0x0F81, 0x0F81},
  {0x0F93, 0x0F93}, {0x0F9D, 0x0F9D}, {0x0FA2, 0x0FA2}, {0x0FA7, 0x0FA7}, {0x0FAC, 0x0FAC}, {0x0FB9, 0x0FB9},
  {0x10FC, 0x10FC}, {0x1100, 0x11FF}, {0x1369, 0x137C}, {0x13F8, 0x13FD}, {0x16EE, 0x16F0}, {0x17B4, 0x17B5},
  {0x17F0, 0x180F}, {0x19DA, 0x19DA}, {0x1ABE, 0x1ABE}, {0x1C80, 0x1C88}, {0x1D2C, 0x1D2E}, {0x1D30, 0x1D3A},
  {0x1D3C, 0x1D4D}, {0x1D4F, 0x1D6A}, {0x1D78, 0x1D78}, {0x1D9B, 0x1DBF}, {0x1E9A, 0x1E9B}, {0x1F71, 0x1F71},
  {0x1F73, 0x1F73}, {0x1F75, 0x1F75}, {0x1F77, 0x1F77}, {0x1F79, 0x1F79}, {0x1F7B, 0x1F7B}, {0x1F7D, 0x1FA7},
  {0x1FB2, 0x1FB4}, {0x1FB7, 0x1FC4}, {0x1FC7, 0x1FC7}, {0x1FD3, 0x1FD3}, {0x1FE3, 0x1FE3}, {0x1FF2, 0x1FF4},
  {0x1FF7, 0x2149}, {0x2150, 0x2182}, {0x2185, 0x2793}, {0x2C7C, 0x2C7D}, {0x2CFD, 0x2CFD}, {0x2D6F, 0x2D6F},
  {0x3021, 0x3029}, {0x302E, 0x303B}, {0x309F, 0x309F}, {0x30FF, 0x30FF}, {0x3131, 0x3195}, {0x3220, 0x32BF},
  {0xA670, 0xA672}, {0xA69C, 0xA69D}, {0xA6E6, 0xA6EF}, {0xA770, 0xA770}, {0xA7F2, 0xA7F4}, {0xA7F8, 0xA7F9},
  {0xA830, 0xA835}, {0xA960, 0xA97C}, {0xAB5C, 0xAB5F}, {0xAB69, 0xABBF}, {0xD7B0, 0xFA0D}, {0xFA10, 0xFA10},
  {0xFA12, 0xFA12}, {0xFA15, 0xFA1E}, {0xFA20, 0xFA20}, {0xFA22, 0xFA22}, {0xFA25, 0xFA26}, {0xFA2A, 0xFB1D},
  {0xFB1F, 0xFE0F}, {0xFE70, 0xFE72}, {0xFE74, 0xFFDC}, {0x10107, 0x1018B}, {0x102E1, 0x102FB}, {0x10320, 0x10323},
  {0x10341, 0x10341}, {0x1034A, 0x1034A}, {0x103D1, 0x103D5}, {0x10781, 0x107BA}, {0x10858, 0x1085F},
  {0x10879, 0x1087F}, {0x108A7, 0x108AF}, {0x108FB, 0x108FF}, {0x10916, 0x1091B}, {0x109BC, 0x109BD},
  {0x109C0, 0x109FF}, {0x10A40, 0x10A48}, {0x10A7D, 0x10A7E}, {0x10A9D, 0x10A9F}, {0x10AEB, 0x10AEF},
  {0x10B58, 0x10B5F}, {0x10B78, 0x10B7F}, {0x10BA9, 0x10BAF}, {0x10CFA, 0x10CFF}, {0x10E60, 0x10E7E},
  {0x10F1D, 0x10F26}, {0x10F51, 0x10F54}, {0x10FC5, 0x10FCB}, {0x11052, 0x11065}, {0x111E1, 0x111F4},
  {0x1173A, 0x1173B}, {0x118EA, 0x118F2}, {0x11C5A, 0x11C6C}, {0x11FC0, 0x11FD4}, {0x12400, 0x1246E},
  {0x16B5B, 0x16B61}, {0x16E80, 0x16E96}, {0x1D165, 0x1D7FF}, {0x1E030, 0x1E06D}, {0x1E8C7, 0x1E8CF},
  {0x1EC71, 0x1FBF9}, {0x2F800, 0x2FA1D}, {0xE0100, 0xE01EF},
};

enum { P_DISALLOWED, P_PVALID, P_CONTEXTJ, P_CONTEXTO };

static int idna_prop(uint32_t cp) {
  if (cp < 0x80) return is_alnum((unsigned char)cp) || cp == '-' ? P_PVALID : P_DISALLOWED;
  switch (cp) { /* RFC 5892 section 2.6 exceptions and 2.8 joiners */
  case 0x00DF: case 0x03C2: case 0x06FD: case 0x06FE: case 0x0F0B: case 0x3007: return P_PVALID;
  case 0x00B7: case 0x0375: case 0x05F3: case 0x05F4: case 0x30FB: return P_CONTEXTO;
  case 0x200C: case 0x200D: return P_CONTEXTJ;
  default: break;
  }
  if ((cp >= 0x0660 && cp <= 0x0669) || (cp >= 0x06F0 && cp <= 0x06F9)) return P_CONTEXTO;
  if (cp >= 0x13A0 && cp <= 0x13F5) return P_PVALID; /* Cherokee case-folds to its capitals */
  if (IN(cp, idna_disallowed)) return P_DISALLOWED;
  /* LetterDigits (Ll Lo Lm Mn Mc Nd) less the table; Lu and Lt change under case folding */
  return kl_unicode_class(cp) & (KL_U_LL | KL_U_LO | KL_U_LM | KL_U_M | KL_U_N) ? P_PVALID : P_DISALLOWED;
}

static int is_mark(uint32_t cp) { return (kl_unicode_class(cp) & KL_U_M) != 0; }

/* Bidi classes, approximated (see jsonformat.h); B_ON stands for every
 * class that is neutral in RFC 5893 (ES, CS, ET, ON, BN). */
enum { B_L, B_R, B_AN, B_EN, B_NSM, B_ON };

static int bidi_class(uint32_t cp) {
  if (cp >= '0' && cp <= '9') return B_EN;
  if (cp < 0x80) return cp == '-' ? B_ON : B_L;
  if (cp >= 0x06F0 && cp <= 0x06F9) return B_EN;
  if ((cp >= 0x0660 && cp <= 0x0669) || cp == 0x066B || cp == 0x066C || cp == 0x06DD || cp == 0x0890 ||
      cp == 0x0891 || cp == 0x08E2 || (cp >= 0x10D30 && cp <= 0x10D39) || (cp >= 0x10E60 && cp <= 0x10E7E))
    return B_AN;
  if (cp == 0x00B7 || cp == 0x0375 || cp == 0x30FB || cp == 0x200C || cp == 0x200D) return B_ON;
  if (is_mark(cp)) return B_NSM;
  if ((cp >= 0x0590 && cp <= 0x08FF) || (cp >= 0xFB1D && cp <= 0xFDFF) || (cp >= 0xFE70 && cp <= 0xFEFF) ||
      (cp >= 0x10800 && cp <= 0x10FFF) || (cp >= 0x1E800 && cp <= 0x1EFFF))
    return B_R;
  return B_L;
}

/* RFC 5893 section 2, rules 1-6. */
static int bidi_rule(const uint32_t *cp, size_t k) {
  int first = bidi_class(cp[0]);
  if (first != B_L && first != B_R) return 0;
  size_t last = k;
  while (last > 0 && bidi_class(cp[last - 1]) == B_NSM) last--;
  int end = bidi_class(cp[last - 1]); /* last >= 1: cp[0] is not NSM */
  int en = 0, an = 0;
  for (size_t i = 0; i < k; i++) {
    int b = bidi_class(cp[i]);
    if (first == B_L ? (b == B_R || b == B_AN) : b == B_L) return 0;
    en |= b == B_EN;
    an |= b == B_AN;
  }
  if (first == B_R) return (end == B_R || end == B_EN || end == B_AN) && !(en && an);
  return end == B_L || end == B_EN;
}

static int has_rtl(const uint32_t *cp, size_t k) {
  for (size_t i = 0; i < k; i++) {
    int b = bidi_class(cp[i]);
    if (b == B_R || b == B_AN) return 1;
  }
  return 0;
}

/* RFC 5892 appendix A: the rule for cp[i]. */
static int context_ok(const uint32_t *cp, size_t k, size_t i) {
  uint32_t c = cp[i];
  switch (c) {
  case 0x200C: /* ZWNJ: after a virama, or inside a joining pair */
    if (i > 0 && IN(cp[i - 1], viramas)) return 1;
    {
      size_t a = i, b = i + 1;
      while (a > 0 && is_mark(cp[a - 1])) a--;
      while (b < k && is_mark(cp[b])) b++;
      return a > 0 && IN(cp[a - 1], join_ld) && b < k && IN(cp[b], join_rd);
    }
  case 0x200D: return i > 0 && IN(cp[i - 1], viramas); /* ZWJ */
  case 0x00B7: return i > 0 && i + 1 < k && cp[i - 1] == 'l' && cp[i + 1] == 'l'; /* Catalan middle dot */
  case 0x0375: return i + 1 < k && IN(cp[i + 1], greek);                           /* Greek keraia */
  case 0x05F3: case 0x05F4: return i > 0 && IN(cp[i - 1], hebrew);                 /* geresh, gershayim */
  case 0x30FB:                                                                       /* katakana middle dot */
    for (size_t j = 0; j < k; j++)
      if (cp[j] != 0x30FB && IN(cp[j], kana_han)) return 1;
    return 0;
  default: /* Arabic-Indic digits: not mixed with the extended ones, and vice versa */
    for (size_t j = 0; j < k; j++) {
      if (c <= 0x0669 && cp[j] >= 0x06F0 && cp[j] <= 0x06F9) return 0;
      if (c >= 0x06F0 && cp[j] >= 0x0660 && cp[j] <= 0x0669) return 0;
    }
    return 1;
  }
}

/* A U-label (also a decoded A-label) by RFC 5891 section 5.4. */
static int ulabel_ok(const uint32_t *cp, size_t k) {
  if (k == 0 || cp[0] == '-' || cp[k - 1] == '-') return 0;
  if (k >= 4 && cp[2] == '-' && cp[3] == '-') return 0;
  if (is_mark(cp[0])) return 0;
  for (size_t i = 0; i < k; i++) {
    int p = idna_prop(cp[i]);
    if (p == P_DISALLOWED) return 0;
    if (p != P_PVALID && !context_ok(cp, k, i)) return 0;
  }
  return 1;
}

/* ---- hostname, idn-hostname ---------------------------------------------- */

enum { H_ASCII, H_IDN_DOT, H_IDN }; /* H_IDN_DOT: U-labels, but only '.' separates (RFC 6531 domains) */

typedef struct {
  uint32_t cp[LABEL_MAX + 1];
  size_t k;      /* code points in cp */
  size_t octets; /* length of the label as sent in DNS (the A-label form) */
} label;

/* One label s[0..n): 1 and lb filled, or 0 when it is not a valid label. */
static int read_label(const char *s, size_t n, int mode, label *lb) {
  int ascii = 1;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] >= 0x80) ascii = 0;
  if (n == 0) return 0;
  if (ascii) {
    if (n > LABEL_MAX) return 0;
    for (size_t i = 0; i < n; i++)
      if (!is_alnum((unsigned char)s[i]) && s[i] != '-') return 0;
    lb->octets = n;
    if (n >= 4 && (s[0] | 0x20) == 'x' && (s[1] | 0x20) == 'n' && s[2] == '-' && s[3] == '-') {
      /* an A-label: valid Punycode for a valid U-label, and its canonical encoding */
      int k = pc_decode(s + 4, n - 4, lb->cp);
      if (k <= 0) return 0;
      lb->k = (size_t)k;
      int wide = 0;
      for (size_t i = 0; i < lb->k; i++)
        if (lb->cp[i] >= 0x80) wide = 1;
      char enc[LABEL_MAX];
      int e = pc_encode(lb->cp, lb->k, enc, sizeof enc);
      if (!wide || e != (int)(n - 4)) return 0;
      for (size_t i = 0; i < (size_t)e; i++)
        if ((enc[i] | 0x20) != (s[4 + i] | 0x20)) return 0;
      return ulabel_ok(lb->cp, lb->k);
    }
    if (s[0] == '-' || s[n - 1] == '-') return 0;
    for (size_t i = 0; i < n; i++) lb->cp[i] = (unsigned char)s[i];
    lb->k = n;
    return 1;
  }
  if (mode == H_ASCII) return 0;
  size_t i = 0;
  lb->k = 0;
  while (i < n) {
    if (lb->k >= LABEL_MAX || !u8next(s, n, &i, &lb->cp[lb->k])) return 0;
    lb->k++;
  }
  if (!ulabel_ok(lb->cp, lb->k)) return 0;
  char enc[LABEL_MAX];
  int e = pc_encode(lb->cp, lb->k, enc, sizeof enc - 4);
  if (e < 0) return 0;
  lb->octets = 4 + (size_t)e;
  return 1;
}

/* Length of the label separator at s[i], 0 if none. */
static size_t separator(const char *s, size_t n, size_t i, int mode) {
  if (s[i] == '.') return 1;
  if (mode != H_IDN || n - i < 3) return 0;
  const unsigned char *p = (const unsigned char *)s + i;
  if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x82) return 3; /* U+3002 ideographic full stop */
  if (p[0] == 0xEF && p[1] == 0xBC && p[2] == 0x8E) return 3; /* U+FF0E fullwidth full stop */
  if (p[0] == 0xEF && p[1] == 0xBD && p[2] == 0xA1) return 3; /* U+FF61 halfwidth ideographic full stop */
  return 0;
}

/* Two passes: each label alone, then (only when some label is right to
 * left) the Bidi rule on every label, which needs the whole name. */
static int host(const char *s, size_t n, int mode) {
  label lb;
  size_t total = 0;
  int rtl = 0;
  if (n == 0) return 0;
  for (int pass = 0; pass < 2; pass++) {
    size_t a = 0, i = 0;
    for (;;) {
      size_t sep = i < n ? separator(s, n, i, mode) : 0;
      if (i < n && !sep) {
        i++;
        continue;
      }
      if (!read_label(s + a, i - a, mode, &lb)) return 0;
      if (pass == 0) {
        total += lb.octets + (i < n);
        if (total > 253) return 0;
        rtl |= has_rtl(lb.cp, lb.k);
      } else if (!bidi_rule(lb.cp, lb.k)) {
        return 0;
      }
      if (i == n) break;
      i += sep;
      a = i;
      if (i == n) return 0; /* a trailing separator leaves an empty label */
    }
    if (!rtl) break;
  }
  return 1;
}

static int f_hostname(const char *s, size_t n) { return host(s, n, H_ASCII); }
static int f_idn_hostname(const char *s, size_t n) { return host(s, n, H_IDN); }

/* ---- email, idn-email (RFC 5321 section 4.1.2, RFC 6531) ----------------- */

static int atext(unsigned char c) { return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c)); }

static int email(const char *s, size_t n, int idn) {
  size_t i = 0;
  if (n && s[0] == '"') { /* Quoted-string */
    for (i = 1;; i++) {
      if (i >= n) return 0;
      unsigned char c = (unsigned char)s[i];
      if (c == '"') break;
      if (c == '\\') {
        if (++i >= n || s[i] < 32 || s[i] > 126) return 0;
      } else if (!((c >= 32 && c <= 126) || (idn && c >= 0x80))) {
        return 0;
      }
    }
    i++;
  } else { /* Dot-string */
    size_t atom = 0;
    for (; i < n && s[i] != '@'; i++) {
      unsigned char c = (unsigned char)s[i];
      if (c == '.') {
        if (!atom) return 0;
        atom = 0;
      } else if (atext(c) || (idn && c >= 0x80)) {
        atom++;
      } else {
        return 0;
      }
    }
    if (!atom) return 0;
  }
  if (i > 64 || i >= n || s[i] != '@') return 0; /* local part: at most 64 octets (4.5.3.1.1) */
  const char *d = s + i + 1;
  size_t dn = n - i - 1;
  if (dn >= 2 && d[0] == '[' && d[dn - 1] == ']') { /* address-literal */
    if (dn >= 7 && !strncasecmp(d + 1, "IPv6:", 5)) return f_ipv6(d + 6, dn - 7);
    return f_ipv4(d + 1, dn - 2);
  }
  return host(d, dn, idn ? H_IDN_DOT : H_ASCII);
}

static int f_email(const char *s, size_t n) { return email(s, n, 0); }
static int f_idn_email(const char *s, size_t n) { return email(s, n, 1); }

/* ---- uri, uri-reference, iri, iri-reference (RFC 3986, RFC 3987) --------- */

enum { U_IRI = 1, U_REF = 2 };
enum { C_PCHAR = 1, C_SLASH = 2, C_QMARK = 4, C_COLON = 8, C_AT = 16, C_PRIVATE = 32 };

static int ucschar(uint32_t c) {
  if (c >= 0xA0 && c <= 0xD7FF) return 1;
  if (c >= 0xF900 && c <= 0xFDCF) return 1;
  if (c >= 0xFDF0 && c <= 0xFFEF) return 1;
  if (c >= 0x10000 && c <= 0xDFFFD) return (c & 0xFFFF) <= 0xFFFD; /* not the last two of a plane */
  return c >= 0xE1000 && c <= 0xEFFFD;
}
static int iprivate(uint32_t c) {
  return (c >= 0xE000 && c <= 0xF8FF) || (c >= 0xF0000 && c <= 0xFFFFD) || (c >= 0x100000 && c <= 0x10FFFD);
}

/* Reads characters from s[*i] while they are unreserved, pct-encoded,
 * sub-delims or allowed by `allow`; IRIs add ucschar (and iprivate with
 * C_PRIVATE). Stops at the first other character; 0 on a bad escape. */
static int span(const char *s, size_t n, size_t *i, int allow, int iri) {
  while (*i < n) {
    unsigned char c = (unsigned char)s[*i];
    if (c == '%') {
      if (n - *i < 3 || hexval((unsigned char)s[*i + 1]) < 0 || hexval((unsigned char)s[*i + 2]) < 0) return 0;
      *i += 3;
    } else if (is_alnum(c) || (c && strchr("-._~!$&'()*+,;=", c))) {
      (*i)++;
    } else if ((c == ':' && (allow & (C_COLON | C_PCHAR))) || (c == '@' && (allow & (C_AT | C_PCHAR))) ||
               (c == '/' && (allow & C_SLASH)) || (c == '?' && (allow & C_QMARK))) {
      (*i)++;
    } else if (c >= 0x80 && iri) {
      size_t j = *i;
      uint32_t cp;
      if (!u8next(s, n, &j, &cp) || !(ucschar(cp) || ((allow & C_PRIVATE) && iprivate(cp)))) return 1;
      *i = j;
    } else {
      return 1;
    }
  }
  return 1;
}

/* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
static int ipvfuture(const char *s, size_t n) {
  size_t i = 1;
  while (i < n && hexval((unsigned char)s[i]) >= 0) i++;
  if (i == 1 || i >= n || s[i] != '.') return 0;
  size_t j = ++i;
  for (; i < n; i++)
    if (!is_alnum((unsigned char)s[i]) && !strchr("-._~!$&'()*+,;=:", s[i])) return 0;
  return i > j;
}

static int authority(const char *s, size_t n, int iri) {
  size_t i = 0;
  const char *at = memchr(s, '@', n);
  if (at) { /* userinfo */
    size_t end = (size_t)(at - s);
    if (!span(s, end, &i, C_COLON, iri) || i != end) return 0;
    i++;
  }
  if (i < n && s[i] == '[') { /* IP-literal */
    const char *close = memchr(s + i, ']', n - i);
    if (!close) return 0;
    const char *in = s + i + 1;
    size_t len = (size_t)(close - in);
    if (!(len && (in[0] | 0x20) == 'v' ? ipvfuture(in, len) : f_ipv6(in, len))) return 0;
    i = (size_t)(close - s) + 1;
  } else if (!span(s, n, &i, 0, iri)) { /* reg-name (any IPv4address is also one) */
    return 0;
  }
  if (i < n) { /* port */
    if (s[i++] != ':') return 0;
    for (; i < n; i++)
      if (!is_digit((unsigned char)s[i])) return 0;
  }
  return 1;
}

static int uri(const char *s, size_t n, int flags) {
  int iri = (flags & U_IRI) != 0;
  size_t i = 0, j = 0;
  if (n && is_alpha((unsigned char)s[0]))
    for (j = 1; j < n && (is_alnum((unsigned char)s[j]) || s[j] == '+' || s[j] == '-' || s[j] == '.');) j++;
  int scheme = j > 0 && j < n && s[j] == ':';
  if (scheme) i = j + 1;
  else if (!(flags & U_REF)) return 0;
  if (n - i >= 2 && s[i] == '/' && s[i + 1] == '/') {
    size_t a = i += 2;
    while (i < n && s[i] != '/' && s[i] != '?' && s[i] != '#') i++;
    if (!authority(s + a, i - a, iri)) return 0;
  } else if (!scheme) { /* path-noscheme: no ':' in the first segment */
    for (size_t k = i; k < n && s[k] != '/' && s[k] != '?' && s[k] != '#'; k++)
      if (s[k] == ':') return 0;
  }
  if (!span(s, n, &i, C_PCHAR | C_SLASH, iri)) return 0;
  if (i < n && s[i] == '?') {
    i++;
    if (!span(s, n, &i, C_PCHAR | C_SLASH | C_QMARK | C_PRIVATE, iri)) return 0;
  }
  if (i < n && s[i] == '#') {
    i++;
    if (!span(s, n, &i, C_PCHAR | C_SLASH | C_QMARK, iri)) return 0;
  }
  return i == n;
}

static int f_uri(const char *s, size_t n) { return uri(s, n, 0); }
static int f_uri_reference(const char *s, size_t n) { return uri(s, n, U_REF); }
static int f_iri(const char *s, size_t n) { return uri(s, n, U_IRI); }
static int f_iri_reference(const char *s, size_t n) { return uri(s, n, U_IRI | U_REF); }

/* ---- uri-template (RFC 6570 section 2) ----------------------------------- */

static int pct_at(const char *s, size_t n, size_t i) {
  return n - i >= 3 && s[i] == '%' && hexval((unsigned char)s[i + 1]) >= 0 && hexval((unsigned char)s[i + 2]) >= 0;
}

/* One expression after its '{'; *i ends past the '}'. */
static int expression(const char *s, size_t n, size_t *pi) {
  size_t i = *pi;
  if (i < n && strchr("+#./;?&", s[i]) && s[i]) i++;
  for (;;) {
    size_t start = i;
    int dot = 1; /* a name starts, and may not end, like after a dot */
    while (i < n) {
      if (s[i] == '%') {
        if (!pct_at(s, n, i)) return 0;
        i += 3;
        dot = 0;
      } else if (is_alnum((unsigned char)s[i]) || s[i] == '_') {
        i++;
        dot = 0;
      } else if (s[i] == '.' && !dot) {
        i++;
        dot = 1;
      } else {
        break;
      }
    }
    if (i == start || dot) return 0;
    if (i < n && s[i] == ':') { /* prefix: 1-9999 */
      size_t d = ++i;
      while (i < n && is_digit((unsigned char)s[i])) i++;
      if (i == d || i - d > 4 || s[d] == '0') return 0;
    } else if (i < n && s[i] == '*') {
      i++;
    }
    if (i >= n) return 0;
    if (s[i] == '}') break;
    if (s[i++] != ',') return 0;
  }
  *pi = i + 1;
  return 1;
}

static int f_uri_template(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = (unsigned char)s[i];
    if (c == '{') {
      i++;
      if (!expression(s, n, &i)) return 0;
    } else if (c == '%') {
      if (!pct_at(s, n, i)) return 0;
      i += 3;
    } else if (c >= 0x80) {
      uint32_t cp;
      if (!u8next(s, n, &i, &cp) || !(ucschar(cp) || iprivate(cp))) return 0;
    } else if (c > 0x20 && c < 0x7F && !strchr("\"<>\\^`{|}", c)) {
      i++;
    } else {
      return 0;
    }
  }
  return 1;
}

/* ---- uuid, json-pointer, relative-json-pointer --------------------------- */

static int f_uuid(const char *s, size_t n) {
  if (n != 36) return 0;
  for (size_t i = 0; i < n; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return 0;
    } else if (hexval((unsigned char)s[i]) < 0) {
      return 0;
    }
  }
  return 1;
}

static int f_json_pointer(const char *s, size_t n) {
  if (n && s[0] != '/') return 0;
  for (size_t i = 0; i < n; i++)
    if (s[i] == '~' && (++i >= n || (s[i] != '0' && s[i] != '1'))) return 0;
  return 1;
}

static int f_relative_json_pointer(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && is_digit((unsigned char)s[i])) i++;
  if (i == 0 || (i > 1 && s[0] == '0')) return 0;
  if (i + 1 == n && s[i] == '#') return 1;
  return f_json_pointer(s + i, n - i);
}

/* ---- regex --------------------------------------------------------------- */

/* PCRE2 accepts group syntax that ECMA-262 does not: only (?: (?= (?! (?<=
 * (?<! (?<name> and modifier groups (?ims-ims:...) are let through. */
static int ecma_groups(const char *s, size_t n) {
  int in_class = 0;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '\\') {
      i++;
    } else if (in_class) {
      in_class = c != ']';
    } else if (c == '[') {
      in_class = 1;
    } else if (c == '(' && i + 1 < n && s[i + 1] == '?') {
      size_t j = i + 2;
      if (j >= n) return 0;
      if (s[j] == ':' || s[j] == '=' || s[j] == '!') continue;
      if (s[j] == '<') {
        if (j + 1 < n && s[j + 1] != '>') continue; /* lookbehind or a name PCRE2 checks */
        return 0;
      }
      while (j < n && (s[j] == 'i' || s[j] == 'm' || s[j] == 's')) j++;
      if (j < n && s[j] == '-')
        for (j++; j < n && (s[j] == 'i' || s[j] == 'm' || s[j] == 's');) j++;
      if (j == i + 2 || j >= n || s[j] != ':') return 0;
    }
  }
  return 1;
}

static int f_regex(const char *s, size_t n) {
  char err[160];
  if (!ecma_groups(s, n)) return 0;
  kl_regex *re = kl_regex_compile(s, n, err, sizeof err);
  if (!re) return 0;
  kl_regex_free(re);
  return 1;
}

/* ---- dispatch ------------------------------------------------------------ */

static const struct {
  const char *name;
  int (*check)(const char *s, size_t n);
} formats[] = {
  {"date-time", f_date_time},
  {"date", f_date},
  {"time", f_time},
  {"duration", f_duration},
  {"email", f_email},
  {"idn-email", f_idn_email},
  {"hostname", f_hostname},
  {"idn-hostname", f_idn_hostname},
  {"ipv4", f_ipv4},
  {"ipv6", f_ipv6},
  {"uri", f_uri},
  {"uri-reference", f_uri_reference},
  {"iri", f_iri},
  {"iri-reference", f_iri_reference},
  {"uri-template", f_uri_template},
  {"uuid", f_uuid},
  {"regex", f_regex},
  {"json-pointer", f_json_pointer},
  {"relative-json-pointer", f_relative_json_pointer},
};

int kl_format_check(const char *name, size_t name_len, const char *s, size_t n) {
  if (!name || (!s && n)) return -1;
  if (!s) s = "";
  for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
    if (strlen(formats[i].name) == name_len && !memcmp(formats[i].name, name, name_len))
      return formats[i].check(s, n) ? 1 : 0;
  return -1;
}
