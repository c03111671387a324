import { expect } from "vitest";
export function expectChatwootShape(_name: string, _value: unknown) {
  expect(_value).toBeTypeOf("object");
}
