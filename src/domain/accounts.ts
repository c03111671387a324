import { database } from "../db/client";
import { accounts, apiTokens, users } from "../db/schema";
import type { Bindings } from "../env";
import { newId } from "./ids";
import { mintToken, type IssuedToken } from "./tokens";
import { toUser, type User } from "./users";

export type NewAccount = { name: string; administrator: { name: string; email: string } };

export type CreatedAccount = {
  account: { id: string; name: string; created_at: string };
  user: User;
  token: IssuedToken;
};

/** An account, its first administrator and that administrator's token, written together. */
export async function createAccount(env: Bindings, input: NewAccount): Promise<CreatedAccount> {
  const now = Date.now();
  const accountId = newId("acc", now);
  const user = {
    id: newId("usr", now),
    accountId,
    name: input.administrator.name,
    email: input.administrator.email.toLowerCase(),
    role: "administrator" as const,
    available: true,
    createdAt: now,
    deletedAt: null,
  };
  const { issued, row } = await mintToken({ accountId, kind: "user", userId: user.id }, now);
  const db = database(env);
  await db.batch([
    db.insert(accounts).values({ id: accountId, name: input.name, createdAt: now }),
    db.insert(users).values(user),
    db.insert(apiTokens).values(row),
  ]);
  return {
    account: { id: accountId, name: input.name, created_at: new Date(now).toISOString() },
    user: toUser(user),
    token: issued,
  };
}
