/**
 * `rigforge.health` (and the body of `/health`): RigForge v1.12's keys with their types, then
 * the probe data v1.12 did not have.
 *
 * v1.12 keys and sources: `service_active` (service probe, `xmrig.service` active),
 * `hugepages_total` (`/proc/meminfo` `HugePages_Total`, count), `hugepages_1g` (1 GiB pages,
 * count), `hugepages_pct` (the seed's key: XMRig's own huge-pages allocation % from its log
 * since the last start), `governor` (`scaling_governor` of the busy, mining CPUs; all CPUs'
 * when none is busy; several distinct values are joined with `,`), `msr`
 * (`ok`/`fail`/`none` from the MSR verdict), `ram` {modules, channels, mts, rated_mts} (SMBIOS,
 * MT/s), `xmp` (XMP/EXPO profile running), `smt` (`/sys/devices/system/cpu/smt/control`),
 * `firmware` {vendor, board} (`/sys/class/dmi/id`), `clock_pct_of_boost` (mean over the busy
 * CPUs of each one's `scaling_cur_freq` as % of its own `cpuinfo_max_freq`, so hybrid E-cores
 * are judged against their own ceiling), `throttling` (that % below 75); both `null` with `miner-inactive`
 * while `xmrig.service` is not active (as RigForge v1.12). Where v1.12 wrote a sentinel for
 * "unknown" (0 for RAM, `false` for the service) this writes `null`, with the reason in
 * `rigforge.reasons`.
 *
 * @module
 */

import { MIN_CLOCK_PCT } from "../rigforge/thresholds.ts";
import { arr, bool, int, num, type Obj, obj, oneOf, str } from "../lib/json.ts";
import { reasonIn } from "./fields.ts";
import type { Source } from "./source.ts";

const MSR_V112: Record<string, "ok" | "fail" | "none"> = {
  applied: "ok",
  unverified: "ok",
  failed: "fail",
  "not-applied": "none",
};

/**
 * Builds the health section.
 *
 * @param src the snapshot source
 * @param prefix the dotted path of the section in the response (for reasons)
 * @returns the section
 */
export function healthSection(src: Source, prefix = "health"): Obj {
  const at = (key: string) => prefix === "" ? key : `${prefix}.${key}`;
  const active = src.get(at("service_active"), "service", "xmrig_active", bool);
  // Clocks judge mining: with xmrig.service known to be stopped there is nothing to judge.
  const pct = active === false
    ? src.log.note(at("clock_pct_of_boost"), null, "miner-inactive")
    : src.get(at("clock_pct_of_boost"), "cpu", "clock_pct_of_boost", int);
  return {
    service_active: active,
    hugepages_total: src.get(at("hugepages_total"), "hugepages", "total", int),
    hugepages_1g: src.get(at("hugepages_1g"), "hugepages", "pages_1g", int),
    hugepages_pct: hugepagesPct(src, at("hugepages_pct")),
    governor: governor(src, at("governor")),
    msr: msr(src, at("msr")),
    ram: ram(src, at("ram")),
    xmp: src.get(at("xmp"), "memory", "profile_enabled", bool),
    smt: src.get(at("smt"), "cpu", "smt.control", (v) => str(v, 32)),
    firmware: firmware(src, at("firmware")),
    clock_pct_of_boost: pct,
    throttling: pct === null
      ? src.log.note(at("throttling"), null, src.log.reasons[at("clock_pct_of_boost")] ?? null)
      : pct < MIN_CLOCK_PCT,
    hugepages: hugepages(src, at("hugepages")),
    msr_detail: msrDetail(src, at("msr_detail")),
    cpu: cpu(src, at("cpu")),
    numa: {
      nodes: src.get(at("numa.nodes"), "cpu", "numa_nodes", int),
      epyc_nps1_suspect: src.get(at("numa.epyc_nps1_suspect"), "cpu", "epyc_nps1_suspect", bool),
    },
    services: services(src, at("services")),
  };
}

/**
 * The governor of the CPUs that mine (the busy ones); all CPUs' governors when none is busy
 * (miner stopped). Several distinct values are joined with `,`.
 */
function governor(src: Source, path: string): string | null {
  const busy = arr(src.record("cpu")?.["busy_governors"]);
  const list = busy ?? src.get(path, "cpu", "governors", arr);
  if (list === null) return null;
  const names = list.filter((g): g is string => typeof g === "string" && g.length <= 32);
  return names.length > 0 ? names.join(",") : src.log.note(path, null, "corrupt");
}

/**
 * XMRig's own huge-pages allocation since its last start (`xmrig.log`): the lowest percentage
 * of its RandomX dataset line and its CPU backend line (doctor check 16 reads the same lines).
 */
function hugepagesPct(src: Source, path: string): number | null {
  const log = src.record("xmrig_log");
  const pcts = [obj(log?.["dataset"]), obj(log?.["threads"])]
    .map((line) => int(line?.["pct"]))
    .filter((p): p is number => p !== null && p >= 0 && p <= 100);
  if (pcts.length > 0) return Math.min(...pcts);
  return src.log.note(
    path,
    null,
    log === null ? src.missing("xmrig_log") : reasonIn(log, "dataset") ?? "absent",
  );
}

function msr(src: Source, path: string): "ok" | "fail" | "none" | null {
  const verdict = src.get(path, "msr", "verdict", (v) => str(v, 32));
  if (verdict === null) return null; // src.get noted why
  return src.log.note(path, MSR_V112[verdict] ?? null, "corrupt");
}

function ram(src: Source, path: string): Obj {
  const dimms = arr(src.record("memory")?.["dimms"]);
  return {
    modules: src.get(`${path}.modules`, "memory", "modules", int),
    channels: src.get(`${path}.channels`, "memory", "channels", int),
    mts: src.get(`${path}.mts`, "memory", "configured_mts", int),
    rated_mts: src.get(`${path}.rated_mts`, "memory", "rated_mts", int),
    dimms: dimms?.map(obj).filter((d): d is Obj => d !== null).map((d) => ({
      locator: str(d["locator"], 64),
      bank_locator: str(d["bank_locator"], 64),
      size_mb: int(d["size_mb"]),
      type: str(d["type"], 32),
      speed_mts: int(d["speed_mts"]),
      configured_mts: int(d["configured_mts"]),
      manufacturer: str(d["manufacturer"], 64),
      part_number: str(d["part_number"], 64),
      rank: int(d["rank"]),
    })) ?? null,
  };
}

function firmware(src: Source, path: string): Obj {
  const text = (v: unknown) => str(v, 128);
  return {
    vendor: src.get(`${path}.vendor`, "firmware", "board_vendor", text),
    board: src.get(`${path}.board`, "firmware", "board_name", text),
    bios_vendor: src.get(`${path}.bios_vendor`, "firmware", "bios_vendor", text),
    bios_version: src.get(`${path}.bios_version`, "firmware", "bios_version", text),
    bios_date: src.get(`${path}.bios_date`, "firmware", "bios_date", text),
    product: src.get(`${path}.product`, "firmware", "product_name", text),
    system_vendor: src.get(`${path}.system_vendor`, "firmware", "sys_vendor", text),
  };
}

function hugepages(src: Source, path: string): Obj {
  const get = (key: string, field: string) => src.get(`${path}.${key}`, "hugepages", field, int);
  const total = get("total", "total");
  const free = get("free", "free");
  const size = get("size_kb", "size_kb");
  const memKb = src.get(`${path}.mem_total_kb`, "hugepages", "mem_total_kb", int);
  const derived = <T>(key: string, value: T | null, from: (number | null)[]) =>
    src.log.note(`${path}.${key}`, value, from.includes(null) ? "absent" : "unsupported");
  return {
    total,
    free,
    used_pct: derived(
      "used_pct",
      total !== null && free !== null && total > 0
        ? Math.floor((total - free) * 100 / total)
        : null,
      [total, free],
    ),
    size_kb: size,
    reserved_pct_of_ram: derived(
      "reserved_pct_of_ram",
      total !== null && size !== null && memKb
        ? Math.round(total * size * 1000 / memKb) / 10
        : null,
      [total, size, memKb],
    ),
    pages_1g: get("pages_1g", "pages_1g"),
    free_1g: get("free_1g", "free_1g"),
  };
}

function msrDetail(src: Source, path: string): Obj {
  const get = <T>(key: string, read: (v: unknown) => T | null) =>
    src.get(`${path}.${key}`, "msr", key, read);
  const text = (v: unknown) => str(v, 32);
  const log = get("log", obj);
  const readback = get("readback", obj);
  return {
    verdict: get("verdict", (v) => oneOf(v, ["applied", "failed", "not-applied", "unverified"])),
    preset: get("preset", text),
    preset_source: get("preset_source", (v) => oneOf(v, ["log", "cpu"])),
    cpu_preset: get("cpu_preset", text),
    rigforge_preset: get("rigforge_preset", text),
    presets_agree: get("presets_agree", bool),
    module_loaded: get("module_loaded", bool),
    log: log === null ? null : {
      status: get("log.status", (v) => oneOf(v, ["applied", "failed", "none"])),
      preset: get("log.preset", text),
    },
    readback: readback === null ? null : {
      matched: get("readback.matched", int),
      total: get("readback.total", int),
      unreadable: get("readback.unreadable", int),
    },
  };
}

function cpu(src: Source, path: string): Obj {
  const get = <T>(key: string, field: string, read: (v: unknown) => T | null) =>
    src.get(`${path}.${key}`, "cpu", field, read);
  return {
    model_name: get("model_name", "model_name", (v) => str(v, 128)),
    governors: strings(get("governors", "governors", arr)),
    busy_governors: strings(get("busy_governors", "busy_governors", arr)),
    logical_cpus: get("logical_cpus", "logical_cpus", int),
    boost_khz: get("boost_khz", "boost_khz", int),
    busy_cpus: get("busy_cpus", "busy_cpus", int),
    busy_freq_khz_mean: get("busy_freq_khz_mean", "busy_freq_khz_mean", int),
    load_source: get("load_source", "load_source", (v) => oneOf(v, ["window", "since-boot"])),
    load_window_s: get("load_window_s", "load_window_s", num),
    smt_active: get("smt_active", "smt.active", bool),
    core_throttle_count: get("core_throttle_count", "throttle.core_throttle_count", int),
    package_throttle_count: get("package_throttle_count", "throttle.package_throttle_count", int),
  };
}

function services(src: Source, path: string): Obj {
  const state = (key: string) => src.get(`${path}.${key}`, "service", key, (v) => str(v, 32));
  return {
    xmrig: state("xmrig"),
    api_socket: state("api_socket"),
    api_service: state("api_service"),
    probe_timer: state("probe_timer"),
    autotune_timer: state("autotune_timer"),
  };
}

function strings(list: unknown[] | null): string[] | null {
  return list?.filter((g): g is string => typeof g === "string" && g.length <= 32) ?? null;
}
