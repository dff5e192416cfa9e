import { describe, expect, it } from 'vitest';
import { redactUrl } from '../../src/db/connect.js';

describe('redactUrl', () => {
  it('hides a password in the authority and in the query string', () => {
    expect(redactUrl('postgres://app:hunter2@db:5432/presence')).toBe('postgres://app:***@db:5432/presence');
    const redacted = redactUrl('postgres://app@db/presence?password=hunter2&sslpassword=k3y&sslmode=require');
    expect(redacted).not.toContain('hunter2');
    expect(redacted).not.toContain('k3y');
    expect(redacted).toContain('sslmode=require');
  });

  it('does not echo an unparseable URL', () => {
    expect(redactUrl('not a url with hunter2')).not.toContain('hunter2');
  });
});
