// A client written against the generated types, checked by tsc --strict: REST's vocabulary as
// GraphQL enums, times as strings in REST's format, and nullable root fields (partial data).
import type {
  CreateKeyMutationVariables,
  CurrentKeyQuery,
  KeyRole,
  KeyStatus,
  KeysPageQuery,
  UsageQuery,
  VerificationCode,
  VerifyMutation,
} from "./generated/types";

export const role: KeyRole = "ADMIN_API";
// @ts-expect-error REST's lower-case value is not a GraphQL KeyRole
export const restRole: KeyRole = "admin_api";

export const create: CreateKeyMutationVariables = {
  input: { name: "from TypeScript", scopes: ["api-keys:read"], role: "SUPPORT" },
};

export function describe(answer: CurrentKeyQuery): string {
  const key = answer.currentKey;
  if (!key) return "no key"; // null with an error at its path: the rest of the answer stands
  const status: KeyStatus = key.status;
  const created: string = key.createdAt; // 2026-03-01T12:00:00.000Z, as REST writes it
  const application: string = key.application ?? "unknown";
  return `${key.name} ${status} ${application} ${new Date(created).toISOString()}`;
}

// @ts-expect-error currentKey may be null (partial data): a client must check it
export const unchecked = (answer: CurrentKeyQuery): string => answer.currentKey.name;

export function cursors(page: KeysPageQuery): string[] {
  return page.apiKeysConnection?.edges.map((edge) => edge.cursor) ?? [];
}

export function calls(usage: UsageQuery): number {
  return usage.apiKeyUsage?.totals.calls ?? 0;
}

export function verdict(answer: VerifyMutation): VerificationCode | null {
  return answer.verifyApiKey?.code ?? null;
}
