/* The ceiling: a small KTN chat server in C, for the benchmark's tables.
 *
 * Theory of operation
 * -------------------
 * What a careful C server on one core can do with the protocol subset the
 * scenarios use (login, msg, join, names, help, logout; history at login
 * and join; coalesced presence once a second), so that every table can
 * say how far our Python server is from the machine's limit, not only
 * from other Python servers.
 *
 * One epoll loop, level-triggered. Each client has an input buffer (JSON
 * objects back to back, any whitespace between, split anywhere) and an
 * output queue; everything a pass produces for a client is appended to
 * its queue and flushed once at the end of the pass (one write per client
 * per pass), exactly the rule our server follows. A broadcast is encoded
 * once and copied into each member's queue. No trick the Python server
 * could not also use: requests are parsed as JSON (escapes decoded), the
 * content re-encoded as ASCII-only JSON (json.dumps' ensure_ascii), and
 * timestamps are local ISO 8601, formatted once per second.
 *
 * Limits are plain: 64 KiB per request, 32 MiB queued per client (past it
 * the client is dropped), 1000 messages of history per room. It is a
 * benchmark baseline, not a server to run for people: no flood control,
 * no pacing of naive readers, no persistence.
 *
 * One file past 400 lines on purpose: a baseline anyone can build with one
 * cc command and read top to bottom.
 *
 * Usage: c_server --host 127.0.0.1 --port 9000
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_REQUEST (64 * 1024)
#define MAX_QUEUE (32 * 1024 * 1024)
#define HISTORY 1000
#define MAX_ROOMS 1024
#define MAX_NAME 32

typedef struct { char *p; size_t len, cap; } buf_t;

typedef struct room room_t;
typedef struct client {
    int fd, dirty, closing, dead, overflow;
    char name[MAX_NAME + 1];
    room_t *room;
    buf_t in, out;
    struct client *next_dirty, *next_dead;
} client_t;

struct room {
    char name[MAX_NAME + 1];
    client_t **members; size_t n, cap;
    char *history[HISTORY]; size_t hlen[HISTORY]; size_t hstart, hcount;
    buf_t joined, left; int njoined, nleft;   /* presence since the last notice */
    int pending;
};

static room_t *rooms[MAX_ROOMS]; static int nrooms;
static client_t **clients;
static client_t *dirty_list, *graveyard;   /* freed at the end of the pass */
#define NAME_SLOTS (1 << 17)                 /* open addressing: logged-in names */
static client_t *names[NAME_SLOTS];
static int ep;
static char stamp[64]; static time_t stamp_at = -1;

static void die(const char *what) { perror(what); exit(1); }

static void reserve(buf_t *b, size_t more) {
    if (b->len + more <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more) cap *= 2;
    if (!(b->p = realloc(b->p, cap))) die("realloc");
    b->cap = cap;
}
static void put(buf_t *b, const char *s, size_t n) { reserve(b, n); memcpy(b->p + b->len, s, n); b->len += n; }
static void puts_(buf_t *b, const char *s) { put(b, s, strlen(s)); }
static char *cstr(buf_t *b) { reserve(b, 1); b->p[b->len] = 0; return b->p; }

static const char *timestamp(void) {
    time_t now = time(NULL);
    if (now != stamp_at) {
        struct tm tm; localtime_r(&now, &tm);
        char zone[8]; strftime(zone, sizeof zone, "%z", &tm);   /* +0100 -> +01:00 */
        size_t n = strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(stamp + n, sizeof stamp - n, "%.3s:%.2s", zone, zone + 3);
        stamp_at = now;
    }
    return stamp;
}

/* Append s (UTF-8, n bytes) as a JSON string, ASCII only, as json.dumps does. */
static void put_json_string(buf_t *b, const unsigned char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    reserve(b, n * 12 + 2);
    char *o = b->p + b->len;
    *o++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') { *o++ = (char)c; i++; continue; }
        unsigned cp; int len;
        if (c < 0x80) { cp = c; len = 1; }
        else if ((c & 0xe0) == 0xc0) { cp = c & 0x1f; len = 2; }
        else if ((c & 0xf0) == 0xe0) { cp = c & 0x0f; len = 3; }
        else { cp = c & 0x07; len = 4; }
        for (int k = 1; k < len && i + k < n; k++) cp = (cp << 6) | (s[i + k] & 0x3f);
        i += len;
        const char *esc = NULL;
        switch (cp) { case '"': esc = "\\\""; break; case '\\': esc = "\\\\"; break;
            case '\n': esc = "\\n"; break; case '\r': esc = "\\r"; break; case '\t': esc = "\\t"; break;
            case '\b': esc = "\\b"; break; case '\f': esc = "\\f"; break; }
        if (esc) { while (*esc) *o++ = *esc++; continue; }
        unsigned units[2]; int nu = 0;
        if (cp >= 0x10000) { cp -= 0x10000; units[nu++] = 0xd800 | (cp >> 10); units[nu++] = 0xdc00 | (cp & 0x3ff); }
        else units[nu++] = cp;
        for (int k = 0; k < nu; k++) {
            *o++ = '\\'; *o++ = 'u';
            for (int sh = 12; sh >= 0; sh -= 4) *o++ = hex[(units[k] >> sh) & 0xf];
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->p);
}

static void put_utf8(buf_t *b, unsigned cp) {
    char t[4]; int n;
    if (cp < 0x80) { t[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { t[0] = (char)(0xc0 | cp >> 6); t[1] = (char)(0x80 | (cp & 0x3f)); n = 2; }
    else if (cp < 0x10000) { t[0] = (char)(0xe0 | cp >> 12); t[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); t[2] = (char)(0x80 | (cp & 0x3f)); n = 3; }
    else { t[0] = (char)(0xf0 | cp >> 18); t[1] = (char)(0x80 | ((cp >> 12) & 0x3f)); t[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); t[3] = (char)(0x80 | (cp & 0x3f)); n = 4; }
    put(b, t, n);
}

/* A JSON value at s[*i] (whitespace skipped); strings decoded into out.
 * Returns 1 for a string, 2 for null, 3 for another value, 0 if malformed. */
static int parse_value(const char *s, size_t n, size_t *i, buf_t *out);

static void skip_ws(const char *s, size_t n, size_t *i) {
    while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r')) (*i)++;
}

static int parse_string(const char *s, size_t n, size_t *i, buf_t *out) {
    (*i)++;
    while (*i < n) {
        char c = s[(*i)++];
        if (c == '"') return 1;
        if ((unsigned char)c < 0x20) return 0;
        if (c != '\\') { if (out) put(out, &c, 1); continue; }
        if (*i >= n) return 0;
        c = s[(*i)++];
        unsigned cp;
        switch (c) {
        case '"': case '\\': case '/': cp = (unsigned char)c; break;
        case 'b': cp = 8; break; case 'f': cp = 12; break; case 'n': cp = 10; break;
        case 'r': cp = 13; break; case 't': cp = 9; break;
        case 'u':
            if (*i + 4 > n) return 0;
            cp = 0;
            for (int k = 0; k < 4; k++) {
                char h = s[(*i)++]; cp <<= 4;
                if (h >= '0' && h <= '9') cp |= (unsigned)(h - '0');
                else if ((h | 32) >= 'a' && (h | 32) <= 'f') cp |= (unsigned)((h | 32) - 'a' + 10);
                else return 0;
            }
            if (cp >= 0xd800 && cp < 0xdc00 && *i + 6 <= n && s[*i] == '\\' && s[*i + 1] == 'u') {
                unsigned lo = (unsigned)strtoul((char[5]){s[*i + 2], s[*i + 3], s[*i + 4], s[*i + 5], 0}, NULL, 16);
                if (lo >= 0xdc00 && lo < 0xe000) { cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00); *i += 6; }
            }
            break;
        default: return 0;
        }
        if (out) put_utf8(out, cp);
    }
    return 0;
}

static int parse_value(const char *s, size_t n, size_t *i, buf_t *out) {
    skip_ws(s, n, i);
    if (*i >= n) return 0;
    char c = s[*i];
    if (c == '"') return parse_string(s, n, i, out);
    if (c == '{' || c == '[') {            /* nested: skipped, strings honoured */
        int depth = 0;
        while (*i < n) {
            c = s[*i];
            if (c == '"') { if (!parse_string(s, n, i, NULL)) return 0; continue; }
            (*i)++;
            if (c == '{' || c == '[') depth++;
            else if ((c == '}' || c == ']') && --depth == 0) return 3;
        }
        return 0;
    }
    size_t start = *i;
    while (*i < n && !strchr(",}] \t\r\n", s[*i])) (*i)++;
    if (*i - start == 4 && !memcmp(s + start, "null", 4)) return 2;
    return *i > start ? 3 : 0;
}

/* One request object: its "request" and "content" strings. */
static int parse_request(const char *s, size_t n, buf_t *request, buf_t *content) {
    size_t i = 0;
    skip_ws(s, n, &i);
    if (i >= n || s[i++] != '{') return 0;
    int has_request = 0;
    for (;;) {
        skip_ws(s, n, &i);
        if (i < n && s[i] == '}') return has_request;
        if (i >= n || s[i] != '"') return 0;
        buf_t key = {0};
        int ok = parse_string(s, n, &i, &key);
        skip_ws(s, n, &i);
        if (!ok || i >= n || s[i++] != ':') { free(key.p); return 0; }
        buf_t *target = NULL;
        if (key.len == 7 && !memcmp(key.p, "request", 7)) target = request;
        else if (key.len == 7 && !memcmp(key.p, "content", 7)) target = content;
        free(key.p);
        if (target) target->len = 0;
        int kind = parse_value(s, n, &i, target);
        if (!kind) return 0;
        if (target == request) has_request = kind == 1;
        skip_ws(s, n, &i);
        if (i < n && s[i] == ',') { i++; continue; }
        if (i < n && s[i] == '}') return has_request;
        return 0;
    }
}

static void mark_dirty(client_t *c) {
    if (!c->dirty && !c->dead) { c->dirty = 1; c->next_dirty = dirty_list; dirty_list = c; }
}
static void send_bytes(client_t *c, const char *p, size_t n) {
    if (c->dead) return;
    if (c->out.len + n > MAX_QUEUE) { c->overflow = 1; mark_dirty(c); return; }   /* dropped */
    put(&c->out, p, n); mark_dirty(c);
}
/* A server response; content is raw JSON (already encoded). */
static void respond(buf_t *b, const char *kind, const char *raw, size_t rawlen) {
    puts_(b, "{\"timestamp\": \""); puts_(b, timestamp());
    puts_(b, "\", \"sender\": \"server\", \"response\": \""); puts_(b, kind);
    puts_(b, "\", \"content\": "); put(b, raw, rawlen); puts_(b, "}\n");
}
static void reply_text(client_t *c, const char *kind, const char *text) {
    buf_t raw = {0}, b = {0};
    put_json_string(&raw, (const unsigned char *)text, strlen(text));
    respond(&b, kind, raw.p, raw.len);
    send_bytes(c, b.p, b.len);
    free(raw.p); free(b.p);
}

static room_t *find_room(const char *name, int create) {
    for (int k = 0; k < nrooms; k++) if (!strcasecmp(rooms[k]->name, name)) return rooms[k];
    if (!create || nrooms == MAX_ROOMS) return NULL;
    room_t *r = calloc(1, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    return rooms[nrooms++] = r;
}
static void send_history(client_t *c, room_t *r) {
    buf_t raw = {0}, b = {0};
    puts_(&raw, "[");
    for (size_t k = 0; k < r->hcount; k++) {
        size_t at = (r->hstart + k) % HISTORY;
        if (k) puts_(&raw, ", ");
        put(&raw, r->history[at], r->hlen[at] - 1);   /* without its newline */
    }
    puts_(&raw, "]");
    respond(&b, "history", raw.p, raw.len);
    send_bytes(c, b.p, b.len);
    free(raw.p); free(b.p);
}
static void presence(room_t *r, client_t *c, int joined) {
    buf_t *list = joined ? &r->joined : &r->left;
    int *count = joined ? &r->njoined : &r->nleft;
    if (*count < 3) { if (*count) puts_(list, ", "); puts_(list, c->name); }
    (*count)++; r->pending = 1;
}
static void enter(client_t *c, room_t *r) {
    if (r->n == r->cap) { r->cap = r->cap ? r->cap * 2 : 16; r->members = realloc(r->members, r->cap * sizeof *r->members); }
    r->members[r->n++] = c; c->room = r; presence(r, c, 1);
}
static void leave(client_t *c) {
    room_t *r = c->room;
    if (!r) return;
    for (size_t k = 0; k < r->n; k++) if (r->members[k] == c) { r->members[k] = r->members[--r->n]; break; }
    c->room = NULL; presence(r, c, 0);
}
static void flush_presence(void) {
    for (int k = 0; k < nrooms; k++) {
        room_t *r = rooms[k];
        if (!r->pending) continue;
        buf_t text = {0};
        const char *parts[2] = {"joined", "left"}; buf_t *lists[2] = {&r->joined, &r->left}; int counts[2] = {r->njoined, r->nleft};
        for (int p = 0; p < 2; p++) {
            if (!counts[p]) continue;
            if (text.len) puts_(&text, "; ");
            put(&text, lists[p]->p, lists[p]->len);
            if (counts[p] > 3) { char more[48]; snprintf(more, sizeof more, " and %d others", counts[p] - 3); puts_(&text, more); }
            puts_(&text, " "); puts_(&text, parts[p]);
        }
        buf_t raw = {0}, b = {0};
        put_json_string(&raw, (const unsigned char *)text.p, text.len);
        respond(&b, "info", raw.p, raw.len);
        for (size_t m = 0; m < r->n; m++) send_bytes(r->members[m], b.p, b.len);
        free(raw.p); free(b.p); free(text.p);
        r->joined.len = r->left.len = 0; r->njoined = r->nleft = 0; r->pending = 0;
    }
}

static int valid_name(const char *s, size_t n, size_t max, int room) {
    if (!n || n > max) return 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[k];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
              || (room && (c == '-' || c == '_')))) return 0;
    }
    return 1;
}
static size_t name_slot(const char *name) {   /* where name is, or the free slot for it */
    size_t h = 5381;
    for (const char *p = name; *p; p++) h = h * 33 + (size_t)(*p | 32);
    for (size_t k = h & (NAME_SLOTS - 1);; k = (k + 1) & (NAME_SLOTS - 1))
        if (!names[k] || !strcasecmp(names[k]->name, name)) return k;
}
static void forget_name(client_t *c) {   /* backward-shift deletion keeps probes whole */
    size_t k = name_slot(c->name);
    if (names[k] != c) return;
    names[k] = NULL;
    for (size_t j = (k + 1) & (NAME_SLOTS - 1); names[j]; j = (j + 1) & (NAME_SLOTS - 1)) {
        client_t *moved = names[j]; names[j] = NULL; names[name_slot(moved->name)] = moved;
    }
}

static void handle(client_t *c, buf_t *req, buf_t *content, int has_content) {
    char *r = req->p; size_t rl = req->len;
    #define IS(word) (rl == strlen(word) && !memcmp(r, word, rl))
    reserve(content, 1); content->p[content->len] = 0;
    if (IS("login")) {
        if (c->name[0]) { reply_text(c, "error", "already logged in"); return; }
        if (!has_content || !valid_name(content->p, content->len, MAX_NAME, 0)) { reply_text(c, "error", "invalid username"); return; }
        size_t slot = name_slot(content->p);
        if (names[slot]) { reply_text(c, "error", "Username taken"); return; }
        memcpy(c->name, content->p, content->len + 1);
        names[slot] = c;
        room_t *lobby = find_room("lobby", 1);
        reply_text(c, "info", "Login successful");
        send_history(c, lobby);
        enter(c, lobby);
    } else if (!c->name[0]) {
        reply_text(c, "error", "log in first");
    } else if (IS("msg")) {
        if (!has_content || !content->len) { reply_text(c, "error", "msg needs a message"); return; }
        room_t *room = c->room;
        buf_t raw = {0}, b = {0};
        put_json_string(&raw, (const unsigned char *)content->p, content->len);
        puts_(&b, "{\"timestamp\": \""); puts_(&b, timestamp()); puts_(&b, "\", \"sender\": ");
        put_json_string(&b, (const unsigned char *)c->name, strlen(c->name));
        puts_(&b, ", \"response\": \"message\", \"content\": "); put(&b, raw.p, raw.len); puts_(&b, "}\n");
        for (size_t m = 0; m < room->n; m++) send_bytes(room->members[m], b.p, b.len);
        size_t at = (room->hstart + room->hcount) % HISTORY;
        if (room->hcount == HISTORY) { free(room->history[room->hstart]); room->hstart = (room->hstart + 1) % HISTORY; at = (room->hstart + HISTORY - 1) % HISTORY; }
        else room->hcount++;
        room->history[at] = b.p; room->hlen[at] = b.len;   /* kept: the history owns it */
        free(raw.p);
    } else if (IS("join")) {
        const char *name = content->p; size_t n = content->len;
        if (n && name[0] == '#') { name++; n--; }
        if (!has_content || !valid_name(name, n, MAX_NAME, 1)) { reply_text(c, "error", "invalid room name"); return; }
        room_t *room = find_room(name, 1);
        if (!room) { reply_text(c, "error", "too many rooms"); return; }
        if (room == c->room) { reply_text(c, "error", "already in that room"); return; }
        leave(c); enter(c, room);
        char text[96]; snprintf(text, sizeof text, "Joined #%s (%zu users)", room->name, room->n);
        reply_text(c, "info", text);
        send_history(c, room);
    } else if (IS("names")) {
        buf_t text = {0};
        puts_(&text, "Users online: ");
        for (size_t m = 0; m < c->room->n; m++) { if (m) puts_(&text, ", "); puts_(&text, c->room->members[m]->name); }
        reply_text(c, "info", cstr(&text)); free(text.p);
    } else if (IS("help")) {
        reply_text(c, "info", "Requests: login <username>, logout, msg <message>, names, help, join <room>");
    } else if (IS("logout")) {
        reply_text(c, "info", "Logged out"); c->closing = 1;
    } else {
        reply_text(c, "error", "unknown request");
    }
    #undef IS
}

static void drop(client_t *c) {
    if (c->dead) return;
    leave(c);
    if (c->name[0]) forget_name(c);
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    clients[c->fd] = NULL;
    c->dead = 1;   /* freed after the pass: it may be on the dirty list */
    c->next_dead = graveyard; graveyard = c;
}

/* Split the input into JSON objects (brace depth, strings honoured) and handle each. */
static void take_input(client_t *c) {
    buf_t req = {0}, content = {0};
    size_t i = 0, start = 0;
    while (i < c->in.len && !c->dead) {
        const char *s = c->in.p;
        while (i < c->in.len && strchr(" \t\r\n", s[i])) i++;
        start = i;
        if (i >= c->in.len) break;
        if (s[i] != '{') {   /* garbage: one error, resynchronise at the next '{' */
            reply_text(c, "error", "invalid JSON");
            while (i < c->in.len && s[i] != '{') i++;
            continue;
        }
        int depth = 0; size_t j = i, end = 0;
        while (j < c->in.len) {
            char ch = s[j];
            if (ch == '"') { size_t k = j; if (!parse_string(s, c->in.len, &k, NULL)) { if (k >= c->in.len) break; j = k; continue; } j = k; continue; }
            j++;
            if (ch == '{') depth++;
            else if (ch == '}' && --depth == 0) { end = j; break; }
        }
        if (!end) break;   /* incomplete: wait for more */
        int has_content = 0;
        if (parse_request(s + i, end - i, &req, &content)) {
            has_content = memmem(s + i, end - i, "\"content\"", 9) != NULL;
            handle(c, &req, &content, has_content);
        } else reply_text(c, "error", "invalid request");
        i = end; start = i;
    }
    if (start) { memmove(c->in.p, c->in.p + start, c->in.len - start); c->in.len -= start; }
    free(req.p); free(content.p);
}

static int listen_on(const char *host, int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    if (fd < 0) die("socket");
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1) { fprintf(stderr, "bad host %s\n", host); exit(2); }
    if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) die("bind/listen");
    return fd;
}

static volatile sig_atomic_t stopping;
static void on_signal(int sig) { (void)sig; stopping = 1; }

int main(int argc, char **argv) {
    const char *host = "127.0.0.1"; int port = 9998;
    for (int k = 1; k + 1 < argc; k += 2) {
        if (!strcmp(argv[k], "--host")) host = argv[k + 1];
        else if (!strcmp(argv[k], "--port")) port = atoi(argv[k + 1]);
    }
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = on_signal}; sigaction(SIGTERM, &sa, NULL); sigaction(SIGINT, &sa, NULL);
    int lfd = listen_on(host, port);
    ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    int cap = 1 << 16; clients = calloc((size_t)cap, sizeof *clients);
    static struct epoll_event events[1024];
    static char chunk[256 * 1024];
    time_t last_presence = 0;
    fprintf(stderr, "listening on %s:%d\n", host, port);
    while (!stopping) {
        int n = epoll_wait(ep, events, 1024, 1000);
        for (int k = 0; k < n; k++) {
            int fd = events[k].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);
                    if (cfd < 0) break;
                    if (cfd >= cap) { close(cfd); continue; }
                    int one = 1; setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    client_t *c = calloc(1, sizeof *c); c->fd = cfd; clients[cfd] = c;
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            client_t *c = clients[fd];
            if (!c || c->dead) continue;
            if (events[k].events & EPOLLOUT) mark_dirty(c);
            if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                ssize_t got = read(fd, chunk, sizeof chunk);
                if (got == 0 || (got < 0 && errno != EAGAIN)) { drop(c); continue; }
                if (got > 0) {
                    put(&c->in, chunk, (size_t)got);
                    take_input(c);
                    if (c->in.len > MAX_REQUEST) { reply_text(c, "error", "request too large"); c->closing = 1; c->in.len = 0; }
                }
            }
        }
        time_t now = time(NULL);
        if (now != last_presence) { flush_presence(); last_presence = now; }
        /* the end of the pass: one write per client with something queued */
        client_t *list = dirty_list; dirty_list = NULL;
        while (list) {
            client_t *c = list; list = c->next_dirty; c->dirty = 0;
            if (c->dead) continue;
            if (c->overflow) { drop(c); continue; }
            ssize_t w = c->out.len ? write(c->fd, c->out.p, c->out.len) : 0;
            if (w < 0 && errno != EAGAIN) { drop(c); continue; }
            if (w > 0) { memmove(c->out.p, c->out.p + w, c->out.len - (size_t)w); c->out.len -= (size_t)w; }
            struct epoll_event cev = {.events = EPOLLIN | (c->out.len ? EPOLLOUT : 0), .data.fd = c->fd};
            epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &cev);
            if (!c->out.len && c->closing) drop(c);
        }
        while (graveyard) {
            client_t *c = graveyard; graveyard = c->next_dead;
            free(c->in.p); free(c->out.p); free(c);
        }
    }
    return 0;
}
