import { describe, expect, it } from 'vitest';
import { readBasicCredentials } from '../src/auth/basic.js';

const basic = (value: string) => `Basic ${Buffer.from(value, 'utf8').toString('base64')}`;

describe('the HTTP Basic parser', () => {
  it('splits user and password at the first colon, whatever the scheme’s case and trailing spaces', () => {
    expect(readBasicCredentials(basic('host:s3cr:et'))).toEqual({ user: 'host', password: 's3cr:et' });
    expect(readBasicCredentials(`bAsIc ${Buffer.from('a:').toString('base64')}  `)).toEqual({ user: 'a', password: '' });
    expect(readBasicCredentials(basic('ü:ß'))).toEqual({ user: 'ü', password: 'ß' });
  });

  it('is null without a header, for another scheme and for garbled values', () => {
    for (const header of [undefined, '', 'Bearer abc', 'Basic', 'Basic !!!', basic('no-colon'), 'Basic a b']) {
      expect(readBasicCredentials(header)).toBeNull();
    }
  });
});
