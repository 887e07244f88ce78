/**
 * Decoding the probe records of a snapshot read back from the file: each record is rebuilt
 * field by field into its type ({@link decodeRecords}), or rejected with the path that did not
 * fit. A rejected record reads as a probe that failed (`corrupt`), so no consumer ever sees a
 * value of the wrong type (a `governors` string where doctor expects an array).
 *
 * Each decoder is declared with its record's type: the compiler checks that it covers every
 * field the probe writes.
 *
 * @module
 */

import {
  array,
  boolean,
  DecodeError,
  type Decoder,
  dict,
  jsonObject,
  literal,
  nullable,
  number,
  object,
  pair,
  string,
} from "../lib/decode.ts";
import {
  NULL_REASONS,
  type ProbeFailure,
  type ProbePass,
  type ProbeRecords,
  type Reasons,
} from "../probe.ts";

type RecordOf<K extends keyof ProbeRecords> = NonNullable<ProbeRecords[K]>;

const num = nullable(number);
const str = nullable(string);
const bool = nullable(boolean);
const reasons: Decoder<Reasons> = dict(literal(...NULL_REASONS));
const cpuTimes = dict(pair(number, number));

const hugepages: Decoder<RecordOf<"hugepages">> = object({
  total: num,
  free: num,
  reserved: num,
  surplus: num,
  size_kb: num,
  pages_1g: num,
  free_1g: num,
  mem_total_kb: num,
  reasons,
});

const cpu: Decoder<RecordOf<"cpu">> = object({
  vendor: str,
  model_name: str,
  family: num,
  model: num,
  logical_cpus: num,
  hypervisor: bool,
  governors: nullable(array(string)),
  busy_governors: nullable(array(string)),
  cur_freq_khz_mean: num,
  cur_freq_khz_max: num,
  boost_khz: num,
  busy_cpus: num,
  busy_freq_khz_mean: num,
  clock_pct_of_boost: num,
  all_clock_pct_of_boost: num,
  load_source: nullable(literal("window", "since-boot")),
  load_window_s: num,
  throttle: object({ core_throttle_count: num, package_throttle_count: num }),
  smt: object({ control: str, active: bool }),
  numa_nodes: num,
  epyc_nps1_suspect: bool,
  counters: object({ uptime_s: num, cpu_times: nullable(cpuTimes) }),
  reasons,
});

const memory: Decoder<RecordOf<"memory">> = object({
  modules: num,
  channels: num,
  configured_mts: num,
  rated_mts: num,
  profile_enabled: bool,
  dimms: nullable(array(object({
    locator: str,
    bank_locator: str,
    size_mb: num,
    type: str,
    speed_mts: num,
    configured_mts: num,
    manufacturer: str,
    part_number: str,
    rank: num,
  }))),
  reasons,
});

const msrPreset = nullable(
  literal("ryzen_17h", "ryzen_19h", "ryzen_19h_zen4", "ryzen_1Ah_zen5", "intel", "none"),
);

const msr: Decoder<RecordOf<"msr">> = object({
  module_loaded: bool,
  preset: msrPreset,
  preset_source: nullable(literal("log", "cpu")),
  cpu_preset: msrPreset,
  rigforge_preset: str,
  presets_agree: bool,
  log: nullable(object({ status: literal("applied", "failed", "none"), preset: str, line: str })),
  readback: nullable(object({
    registers: array(object({
      register: string,
      expected: string,
      mask: string,
      actual: str,
      match: bool,
    })),
    matched: number,
    total: number,
    unreadable: number,
  })),
  verdict: literal("applied", "failed", "not-applied", "unverified"),
  reasons,
});

const hugepagesLine = nullable(object({
  pct: number,
  allocated: number,
  total: number,
  line: string,
}));

const xmrigLog: Decoder<RecordOf<"xmrig_log">> = object({
  dataset: hugepagesLine,
  threads: hugepagesLine,
  reasons,
});

const firmware: Decoder<RecordOf<"firmware">> = object({
  board_vendor: str,
  board_name: str,
  bios_vendor: str,
  bios_version: str,
  bios_date: str,
  product_name: str,
  sys_vendor: str,
  reasons,
});

const energySample = object({ uptime_s: number, energy_uj: dict(number) });

const power: Decoder<RecordOf<"power">> = object({
  zones: array(object({
    id: string,
    name: string,
    energy_uj: num,
    max_energy_range_uj: num,
  })),
  uptime_s: num,
  watts: num,
  window_s: num,
  source: nullable(literal("rapl-window", "rapl-sample")),
  energy_j_total: num,
  paired: nullable(object({
    window_s: number,
    hs_window: literal("60s"),
    hashrate_hs: number,
    watts: number,
    hs_per_watt: number,
    window_end_uptime_s: number,
    window_end: str,
  })),
  history: array(energySample),
  reasons,
});

const thermal: Decoder<RecordOf<"thermal">> = object({
  package_c: num,
  source: str,
  sensors: array(object({ chip: string, label: string, c: number })),
  reasons,
});

const service: Decoder<RecordOf<"service">> = object({
  systemd: boolean,
  xmrig: str,
  xmrig_active: bool,
  api_socket: str,
  api_service: str,
  probe_timer: str,
  autotune_timer: str,
  control: str,
  miner_user: nullable(object({ configured: string, actual: str })),
  api_ip_scope: nullable(object({ configured: boolean, enforced: bool })),
  reasons,
});

const knobs = {
  prefetch_mode: num,
  threads: num,
  yield: bool,
  "1gb-pages": bool,
  priority: num,
  "huge-pages-jit": bool,
  cache_qos: bool,
  wrmsr: bool,
};
const target = nullable(literal("perf", "efficiency"));
const targetSetting = nullable(literal("performance", "efficiency"));

const tune: Decoder<RecordOf<"tune">> = object({
  applied: nullable(object({ raw: jsonObject, knobs: object(knobs) })),
  last_run: nullable(object({
    finished_at: str,
    finished_at_source: nullable(literal("mtime")),
    mode: nullable(literal("bench", "live")),
    target,
    target_setting: targetSetting,
    search: nullable(literal("climb", "grid")),
    seeds: nullable(array(string)),
    iterations: num,
    min_delta: num,
    best: nullable(object({ ...knobs, hashrate: num })),
    best_hs: num,
    best_hs_per_watt: num,
    candidates_tried: num,
    throttled_count: num,
    hugepages_capped_count: num,
    results_count: num,
  })),
  autotune: object({
    enabled: boolean,
    active: bool,
    target,
    target_setting: targetSetting,
    schedule: str,
    next: str,
    last_run: str,
    recent: nullable(array(object(
      {
        time: string,
        text: string,
        outcome: literal("baseline", "measured", "applied", "kept", "skipped"),
      },
      { mode: number, hashrate: number, watts: number, hs_per_watt: number },
    ))),
  }),
  reasons,
});

const watchdog: Decoder<RecordOf<"watchdog">> = object({
  mode: nullable(literal("enabled", "disabled")),
  interval_min: num,
  max_temp_c: num,
  resumes_below_c: num,
  thermal_hold: bool,
  thermal_hold_since: str,
  thermal_hold_since_source: nullable(literal("mtime")),
  strikes: number,
  reasons,
});

/** A knob of XMRig's config: a boolean, number, string or `null` (`Knob`). */
const knob: Decoder<boolean | number | string | null> = (v, path) => {
  if (v === null || typeof v === "boolean" || typeof v === "string") return v;
  return number(v, path);
};

/** `cpu.rx`: a thread count, or the per-thread list (a CPU index or `[index, intensity]`). */
const rxLayout: Decoder<number | (number | number[])[] | null> = (v, path) => {
  if (v === null || typeof v === "number") return nullable(number)(v, path);
  return array<number | number[]>((item, at) =>
    Array.isArray(item) ? array(number)(item, at) : number(item, at)
  )(v, path);
};

const provenance: Decoder<RecordOf<"provenance">> = object({
  rigforge_version: str,
  xmrig_commit: str,
  xmrig_sha256_recorded: str,
  xmrig_sha256_actual: str,
  binary_matches: bool,
  xmrig_http: nullable(object({
    enabled: bool,
    host: str,
    port: num,
    restricted: bool,
    token_set: boolean,
  })),
  xmrig_version_pinned: str,
  xmrig_commit_pinned: str,
  xmrig_build_matches_pin: bool,
  xmrig_layout: nullable(object({ rx: rxLayout, cpu: dict(knob), randomx: dict(knob) })),
  reasons,
});

const exposure: Decoder<RecordOf<"exposure">> = object({
  api: nullable(literal("enabled", "disabled")),
  port: num,
  bind: str,
  token_set: bool,
  named_tokens: num,
  allow_from: nullable(array(string)),
  scoped: bool,
  control: bool,
  token_public: bool,
  reasons,
});

const configView: Decoder<RecordOf<"config_view">> = object({
  config: nullable(jsonObject),
  config_meta: nullable(object({
    revision: string,
    changed_at: str,
    source: nullable(literal("control", "local", "restore")),
    last_change_id: str,
  })),
  edited_since_stamp: bool,
  control: nullable(object({ change_id: str, status: str, reason: str, applied_at: str })),
  reasons,
});

const hashrateWindow = { "10s": num, "60s": num, "15m": num };

const xmrigApi: Decoder<RecordOf<"xmrig_api">> = object({
  reachable: boolean,
  version: str,
  hashrate: object(hashrateWindow),
  reasons,
});

const controlReceiver: Decoder<RecordOf<"control_receiver">> = object({
  enabled: bool,
  port: num,
  answers: bool,
  http_status: num,
  error: str,
  last: nullable(object({ change_id: str, status: str, applied_at: str })),
  reasons,
});

/** Every record's decoder, by probe name. */
const DECODERS: { [K in keyof ProbeRecords]: Decoder<RecordOf<K>> } = {
  hugepages,
  cpu,
  memory,
  msr,
  xmrig_log: xmrigLog,
  firmware,
  power,
  thermal,
  service,
  tune,
  watchdog,
  provenance,
  exposure,
  config_view: configView,
  xmrig_api: xmrigApi,
  control_receiver: controlReceiver,
};

/** The probe record names a snapshot carries. */
export const RECORD_NAMES = Object.freeze(
  Object.keys(DECODERS).filter((name): name is keyof ProbeRecords => name in DECODERS),
);

/** Decoded records, and a failure for each record that did not decode. */
export interface DecodedRecords {
  records: ProbeRecords;
  rejected: ProbePass["failures"];
}

function decodeOne<K extends keyof ProbeRecords>(
  name: K,
  value: unknown,
): { ok: true; value: ProbeRecords[K] } | { ok: false; failure: ProbeFailure } {
  if (value === null || value === undefined) return { ok: true, value: null };
  try {
    return { ok: true, value: DECODERS[name](value, name) };
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
    return {
      ok: false,
      failure: { reason: "corrupt", message: `snapshot record rejected: ${error.message}` },
    };
  }
}

/**
 * Decodes every probe record of a parsed snapshot. A missing record is `null` (the probe did
 * not run); a record that does not fit its type is `null` and gets a `corrupt` failure naming
 * the first path that did not fit (`cpu.governors: expected an array`).
 *
 * @param raw the parsed `records` object
 * @returns the typed records and the rejections
 */
export function decodeRecords(raw: Record<string, unknown>): DecodedRecords {
  const rejected: ProbePass["failures"] = {};
  const one = <K extends keyof ProbeRecords>(name: K): ProbeRecords[K] => {
    const result = decodeOne(name, raw[name]);
    if (result.ok) return result.value;
    rejected[name] = result.failure;
    return null;
  };
  const records: ProbeRecords = {
    hugepages: one("hugepages"),
    cpu: one("cpu"),
    memory: one("memory"),
    msr: one("msr"),
    xmrig_log: one("xmrig_log"),
    firmware: one("firmware"),
    power: one("power"),
    thermal: one("thermal"),
    service: one("service"),
    tune: one("tune"),
    watchdog: one("watchdog"),
    provenance: one("provenance"),
    exposure: one("exposure"),
    config_view: one("config_view"),
    xmrig_api: one("xmrig_api"),
    control_receiver: one("control_receiver"),
  };
  return { records, rejected };
}
