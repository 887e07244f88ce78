import { deepEqual as assertEquals } from "node:assert/strict";
import {
  formatCidr,
  isIPv4,
  normaliseAddress,
  parseAllowList,
  parseCidr,
  parseIPv6,
} from "../src/ip.ts";

Deno.test("isIPv4", () => {
  for (const ok of ["0.0.0.0", "127.0.0.1", "192.168.1.10", "255.255.255.255"]) {
    assertEquals(isIPv4(ok), true, ok);
  }
  for (const bad of ["256.1.1.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "a.b.c.d", "", " 1.2.3.4"]) {
    assertEquals(isIPv4(bad), false, bad);
  }
});

Deno.test("parseIPv6", () => {
  assertEquals(parseIPv6("::"), [0, 0, 0, 0, 0, 0, 0, 0]);
  assertEquals(parseIPv6("::1"), [0, 0, 0, 0, 0, 0, 0, 1]);
  assertEquals(parseIPv6("fd00::1:2"), [0xfd00, 0, 0, 0, 0, 0, 1, 2]);
  assertEquals(parseIPv6("::ffff:127.0.0.1"), [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]);
  assertEquals(parseIPv6("1:2:3:4:5:6:7:8"), [1, 2, 3, 4, 5, 6, 7, 8]);
  for (const bad of ["1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "fe80::1%eth0", ":", "g::1"]) {
    assertEquals(parseIPv6(bad), null, bad);
  }
});

Deno.test("parseCidr and formatCidr", () => {
  assertEquals(parseCidr("10.0.0.0/8"), { family: 4, address: "10.0.0.0", prefix: 8 });
  assertEquals(parseCidr("FD00::/64"), { family: 6, address: "fd00::", prefix: 64 });
  assertEquals(formatCidr(parseCidr("192.168.1.10")!), "192.168.1.10");
  assertEquals(formatCidr(parseCidr("::/0")!), "::/0");
  for (const bad of ["10.0.0.0/33", "::/129", "1.2.3.4/", "1.2.3.4/8/8", "x/8", "1.2.3.4/-1"]) {
    assertEquals(parseCidr(bad), null, bad);
  }
});

Deno.test("parseAllowList takes one or several entries, refuses injection", () => {
  assertEquals(parseAllowList(""), []);
  assertEquals(parseAllowList(null), []);
  assertEquals((parseAllowList("1.2.3.4 5.6.7.0/24") as unknown[]).length, 2);
  assertEquals((parseAllowList(["::1", "10.0.0.1"]) as unknown[]).length, 2);
  assertEquals("error" in (parseAllowList("1.2.3.4; drop") as object), true);
  assertEquals("error" in (parseAllowList(42) as object), true);
});

Deno.test("normaliseAddress strips the IPv4-mapped prefix", () => {
  assertEquals(normaliseAddress("::ffff:127.0.0.1"), "127.0.0.1");
  assertEquals(normaliseAddress("::FFFF:10.1.2.3"), "10.1.2.3");
  assertEquals(normaliseAddress("FD00::1"), "fd00::1");
  assertEquals(normaliseAddress("::ffff:zz"), "::ffff:zz");
});
