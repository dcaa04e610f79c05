import { Controller, Delete } from '@nestjs/common';
import { CrmSync } from './crm-sync.handler.js';

/** Ends the CRM's outage, so that replaying its dead letters (from the dashboard, say) completes them. */
@Controller('crm')
export class CrmController {
  constructor(private readonly crm: CrmSync) {}

  @Delete('outage')
  endOutage(): { outage: boolean } {
    this.crm.outage = false;
    return { outage: this.crm.outage };
  }
}
