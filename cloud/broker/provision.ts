import { Command } from 'commander';
import { loadConfig } from '../config.js';
import { provisionLotAccount } from './accounts.js';

/**
 * `npm run cloud:lot-credentials -- <lotId>`: creates the broker account of a lot on the embedded
 * broker (the account file in DATA_DIR) and prints its password once. For Mosquitto use
 * deploy/mosquitto/create-lot-credentials.sh instead.
 */
const program = new Command('cloud:lot-credentials')
  .argument('<lotId>', 'the lot id; it is also the broker username')
  .action(async (lotId: string) => {
    const config = await loadConfig();
    if (!config.sync?.embedded.accountsFile) throw new Error('sync is disabled (SYNC=false)');
    if (config.sync.brokerUrl) {
      process.stderr.write(
        'MQTT_URL is set: create the account on that broker (deploy/mosquitto/create-lot-credentials.sh)\n',
      );
      process.exit(2);
    }
    const { username, password } = await provisionLotAccount(config.sync.embedded.accountsFile, lotId);
    process.stdout.write(
      `broker account for lot ${lotId}\n  MQTT_USERNAME=${username}\n  MQTT_PASSWORD=${password}\n`,
    );
  });
await program.parseAsync();
