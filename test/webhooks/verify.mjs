// Verifies webhook deliveries with the Standard Webhooks reference library, not
// identity's own code. Reads {"secret": "whsec_...", "deliveries": [{"headers": {...},
// "body": "..."}, ...]} as JSON on stdin; prints the verified payloads' ids as a JSON
// array and exits 0, or prints which delivery failed and why and exits 1.
import { Webhook } from "standardwebhooks";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { secret, deliveries } = JSON.parse(input);
const wh = new Webhook(secret.replace(/^whsec_/, ""));
const ids = [];
for (const [i, d] of deliveries.entries()) {
  try {
    ids.push(wh.verify(d.body, d.headers).id);
  } catch (err) {
    console.error(`delivery ${i} (webhook-id ${d.headers["webhook-id"]}) not verified: ${err.message}`);
    process.exit(1);
  }
}
console.log(JSON.stringify(ids));
