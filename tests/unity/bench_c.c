/* The loop of Bench.cs through the C library alone: the baseline the C# binding is measured
 * against (tests/unity/bench_unity.py runs both against one server). Same session, same pose
 * and lens, same untimed wait, same timed sections; pixels are copied with memcpy row by row
 * into a malloc'd buffer, as CopyPixelsTo does into a byte[].
 *   bench_c TARGET WIDTH HEIGHT FRAMES
 * Output: "sample OP NANOSECONDS" lines, as Bench.cs prints them. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "latentstage/latentstage.h"

enum { WARM_UP = 10, POLL_BATCH = 1000 };

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int fail(const char* what, ls_status status) {
  fprintf(stderr, "%s: %s: %s\n", what, ls_status_name(status), ls_last_error());
  return 1;
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&t, NULL);
}

/* Untimed: sleeps until the session has received frame n. */
static ls_status wait_for_frame(ls_session* session, uint64_t n) {
  ls_session_stats stats;
  for (int64_t start = now_ns(); now_ns() - start < 60000000000LL;) {
    ls_status s = ls_session_get_stats(session, &stats);
    if (s != LS_OK) return s;
    if (stats.frames_received >= n) return LS_OK;
    sleep_ms(1);
  }
  return LS_TIMEOUT;
}

/* GateFit(Fill) as Lenses.GateFit computes it: the sensor is wider, so vertical (2). */
static int gate_fit_fill(double sw, double sh, uint32_t w, uint32_t h) {
  return sw / sh > (double)w / h ? 2 : 1;
}

int main(int argc, char** argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: bench_c TARGET WIDTH HEIGHT FRAMES\n");
    return 2;
  }
  uint32_t width = (uint32_t)atoi(argv[2]), height = (uint32_t)atoi(argv[3]);
  int frames = atoi(argv[4]);
  ls_connect_options copts;
  ls_connect_options_init(&copts);
  copts.target = argv[1];
  ls_client* client = NULL;
  ls_status s = ls_client_connect(&copts, &client);
  if (s != LS_OK) return fail("ls_client_connect", s);

  ls_session_options o;
  ls_session_options_init(&o);
  o.width = width;
  o.height = height;
  o.encoding = LS_ENCODING_RAW_BGRA8;
  o.bottom_up = 1;
  o.convention = LS_CONVENTION_UNITY;
  o.pacing = LS_PACING_LOCKSTEP;
  o.prediction = 0;
  o.new_world_kind = LS_WORLD_OUTDOOR;
  o.new_world_seed = 7;
  o.lens.kind = LS_LENS_FOV;
  o.lens.fov_deg = 60;
  o.client_name = "latentstage-unity";
  ls_session* session = NULL;
  s = ls_session_open(client, &o, &session);
  if (s != LS_OK) return fail("ls_session_open", s);

  ls_pose template_pose;
  ls_pose_init(&template_pose);
  size_t row = (size_t)width * 4;
  uint8_t* pixels = malloc(row * height);
  int64_t* samples = calloc((size_t)4 * frames, sizeof(int64_t));
  for (int i = 0; i < WARM_UP + frames; i++) {
    int64_t t0 = now_ns();
    double a = 0.01 * i;
    ls_pose pose = template_pose;
    pose.frame_id = (uint64_t)i + 1;
    pose.capture_time_ns = 0;
    pose.position[0] = sin(a);
    pose.position[1] = 1.6;
    pose.position[2] = a;
    pose.rotation_form = LS_ROTATION_QUATERNION;
    pose.quaternion[0] = 0;
    pose.quaternion[1] = sin(a / 2);
    pose.quaternion[2] = 0;
    pose.quaternion[3] = cos(a / 2);
    memset(&pose.lens, 0, sizeof pose.lens);
    pose.lens.kind = LS_LENS_PHYSICAL;
    pose.lens.focal_length_mm = 35;
    pose.lens.sensor_width_mm = 36;
    pose.lens.sensor_height_mm = 24;
    pose.lens.gate_fit = gate_fit_fill(36, 24, width, height);
    s = ls_session_submit_pose(session, &pose);
    if (s != LS_OK) return fail("ls_session_submit_pose", s);
    int64_t t1 = now_ns();
    s = wait_for_frame(session, (uint64_t)i + 1);
    if (s != LS_OK) return fail("wait for frame", s);
    int64_t t2 = now_ns();
    const ls_frame* frame = NULL;
    s = ls_session_acquire_frame(session, 0, &frame);
    if (s != LS_OK) return fail("ls_session_acquire_frame", s);
    uint64_t id = frame->frame_id;
    uint32_t w = frame->width, h = frame->height;
    int32_t rung = frame->rung;
    const uint8_t* data = frame->pixels;
    int64_t t3 = now_ns();
    if (frame->stride == row) {
      memcpy(pixels, data, row * h);
    } else {
      for (uint32_t y = 0; y < h; y++) memcpy(pixels + y * row, data + (size_t)y * frame->stride, row);
    }
    int64_t t4 = now_ns();
    s = ls_session_release_frame(session, frame);
    if (s != LS_OK) return fail("ls_session_release_frame", s);
    int64_t t5 = now_ns();
    if (id != (uint64_t)i + 1 || w != width || h != height || rung == 0 || data == NULL) {
      fprintf(stderr, "frame %llu is not the one submitted\n", (unsigned long long)id);
      return 1;
    }
    if (i < WARM_UP) continue;
    int k = i - WARM_UP;
    samples[k] = t1 - t0;
    samples[frames + k] = t3 - t2;
    samples[2 * frames + k] = t4 - t3;
    samples[3 * frames + k] = t5 - t4;
  }
  const char* names[4] = {"submit", "acquire", "copy", "release"};
  for (int op = 0; op < 4; op++)
    for (int k = 0; k < frames; k++) printf("sample %s %lld\n", names[op], (long long)samples[op * frames + k]);

  for (int b = 0; b < frames / 4 + 3; b++) {
    int64_t t0 = now_ns();
    for (int k = 0; k < POLL_BATCH; k++) {
      const ls_frame* frame = NULL;
      s = ls_session_acquire_frame(session, 0, &frame);
      if (s != LS_TIMEOUT) return fail("poll", s);
    }
    int64_t t1 = now_ns();
    for (int k = 0; k < POLL_BATCH; k++)
      if (ls_session_get_state(session) != LS_SESSION_OPEN) return fail("state", LS_CLOSED);
    int64_t t2 = now_ns();
    if (b < 3) continue;
    printf("sample poll %lld\n", (long long)((t1 - t0) / POLL_BATCH));
    printf("sample state %lld\n", (long long)((t2 - t1) / POLL_BATCH));
  }
  free(samples);
  free(pixels);
  ls_session_close(session);
  ls_client_destroy(client);
  return 0;
}
