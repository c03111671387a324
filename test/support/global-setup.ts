import type { TestProject } from "vitest/node";
import { startReceiver } from "./receiver";

export default async function setup(project: TestProject) {
  const receiver = await startReceiver();
  project.provide("receiverPort", receiver.port);
  return receiver.close;
}
