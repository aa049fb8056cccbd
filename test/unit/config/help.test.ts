import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderHelp } from '../../../src/config/help.ts';
import { AWS_CREDENTIAL_VARIABLES, SETTING_LIST } from '../../../src/config/settings.ts';

describe('renderHelp', () => {
  const help = renderHelp();

  it('starts with the usage of the commands', () => {
    assert.match(
      help,
      /^Usage: cloudtaser-s3-proxy \[serve\|check-config\|decrypt\|rewrap\|encrypt-existing\|/,
    );
    for (const command of ['decrypt', 'rewrap', 'encrypt-existing', 'audit', 'inject', 'webhook'])
      assert.match(help, new RegExp(`^  ${command} +\\S`, 'm'), command);
  });

  it('shows every setting with its default or when it is required', () => {
    for (const setting of SETTING_LIST) {
      const line = help.split('\n').find((l) => l.startsWith(`  ${setting.env}=`));
      assert.ok(line, `${setting.env} is in the help`);
      if (setting.presence === 'defaulted') assert.ok(line.includes(`(default ${setting.default})`), line);
      if (setting.presence === 'required') assert.ok(line.endsWith('(required)'), line);
    }
  });

  it('lists the AWS credential variables as read by the AWS SDK chain', () => {
    assert.match(help, /read by the AWS SDK credential chain/);
    for (const variable of AWS_CREDENTIAL_VARIABLES) {
      assert.match(help, new RegExp(`^  ${variable.env}$`, 'm'));
    }
  });

  it('explains that the loopback default keeps decrypted objects away from other pods', () => {
    assert.match(help, /CLOUDTASER_S3PROXY_LISTEN_ADDR=<host:port> {2}\(default 127\.0\.0\.1:8190\)/);
    assert.match(help, /":8190" binds all interfaces/);
  });

  it('keeps lines within 100 columns', () => {
    for (const line of help.split('\n')) assert.ok(line.length <= 100 || !line.includes(' '), line);
  });
});
